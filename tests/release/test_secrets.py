"""The secret scan: planted secrets are found by file and line, release material is not."""

from __future__ import annotations

import hashlib
from pathlib import Path

from release.parts.secrets import scan_paths

# Assembled at run time so no scanner (nor this repo's own publish) sees a literal secret here.
GITHUB = "ghp" + "_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
AWS = "AKIA" + "IOSFODNN7EXAMPLF"
GOOGLE = "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"


def test_planted_secrets_are_found_with_file_and_line(tmp_path: Path) -> None:
    notes = tmp_path / "LATEST_CHANGES.md"
    notes.write_text(f"# 2.0.0.20\n\nfixed login\ntoken {GITHUB}\naws {AWS}\nGEMINI_API_KEY={GOOGLE}\n")
    findings = scan_paths([notes])
    assert [(f.line, f.kind) for f in findings] == [
        (4, "GitHub Token"),
        (5, "AWS Access Key"),
        (6, "Google API Key"),
    ]
    for finding in findings:
        shown = str(finding)
        assert shown.startswith(f"{notes}:{finding.line} ")
        assert GITHUB not in shown and AWS not in shown and GOOGLE not in shown


def test_digests_signatures_and_versions_are_not_secrets(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    digest = hashlib.sha256(b"nexy").hexdigest()
    signature = "pJ2ngBYhj3UMSzJ0x5VCPTjAqLIJQNYu7H1nTPgkJ2eX+D4f8hxyNUd4WySQkSCu0a8SeQ4gBuIOFpJG1N4wBQ=="
    manifest.write_text(
        "{\n"
        f'  "version": "2.0.0.19",\n  "build": "2.0.0.19",\n  "sha256": "{digest}",\n'
        f'  "fingerprint": "{hashlib.sha256(digest.encode()).hexdigest()}",\n'
        f'  "ed_signature": "{signature}",\n'
        '  "url": "https://github.com/Seregawpn/Nexy_production/releases/download/Update/Nexy.dmg",\n'
        '  "release_notes": "GEMINI_API_KEY must be set on the VM"\n'
        "}\n"
    )
    assert scan_paths([manifest]) == []


def test_missing_files_are_skipped(tmp_path: Path) -> None:
    assert scan_paths([tmp_path / "absent.md"]) == []
