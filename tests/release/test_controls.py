"""Update controls: parsed once for publish and promote, malformed input refused in one line,
promote carrying the beta's controls with the command line's laid over them."""

from __future__ import annotations

import pytest

from release.errors import ReleaseError
from release.parts.controls import UpdateControls, describe_manifest, manifest_controls, parse_controls
from schemas import CriticalUpdate, Manifest

from ..feed.feedkit import make_manifest


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"phased_rollout_interval": "abc"}, "--phased-rollout-interval 'abc': use whole seconds"),
        ({"phased_rollout_interval": "0"}, "--phased-rollout-interval '0'"),
        ({"phased_rollout_interval": "-5"}, "--phased-rollout-interval '-5'"),
        ({"phased_rollout_interval": "99999999999"}, "from 1 to 31536000"),
        ({"critical_below": "2.0.0.1"}, "--critical-below goes with --critical"),
        ({"critical": True, "critical_below": "2.0"}, "--critical-below '2.0': use a version X.Y.Z.W"),
        ({"minimum_autoupdate_version": "v2"}, "--minimum-autoupdate-version 'v2'"),
    ],
)
def test_malformed_options_are_one_line_refusals(options: dict[str, object], message: str) -> None:
    with pytest.raises(ReleaseError) as caught:
        parse_controls(**options)  # type: ignore[arg-type]
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.code == 2


def test_versions_newer_than_the_release_are_refused() -> None:
    controls = parse_controls(critical=True, critical_below="2.0.0.20")
    with pytest.raises(ReleaseError, match=r"newer than the release 2\.0\.0\.16"):
        manifest_controls(controls, "2.0.0.16")
    with pytest.raises(ReleaseError, match=r"--minimum-autoupdate-version 3\.0\.0\.0 is newer"):
        manifest_controls(parse_controls(minimum_autoupdate_version="3.0.0.0"), "2.0.0.16")


def test_promote_carries_the_beta_controls_and_overrides_only_what_is_given() -> None:
    beta = Manifest.model_validate(
        make_manifest("2.0.0.16", "beta").model_dump()
        | {"phased_rollout_interval": 3600, "minimum_autoupdate_version": "2.0.0.0"}
    )
    carried = manifest_controls(UpdateControls(), beta.version, beta)
    assert carried == {
        "phased_rollout_interval": 3600,
        "critical_update": None,
        "minimum_autoupdate_version": "2.0.0.0",
    }
    given = parse_controls(phased_rollout_interval="86400", critical=True, critical_below="2.0.0.12")
    fields = manifest_controls(given, beta.version, beta)
    assert fields["phased_rollout_interval"] == 86400
    assert fields["critical_update"] == CriticalUpdate(below="2.0.0.12")
    assert fields["minimum_autoupdate_version"] == "2.0.0.0"
    stable = beta.model_copy(update=fields)
    assert describe_manifest(stable) == (
        "phased rollout every 86400s, critical below 2.0.0.12, minimum autoupdate 2.0.0.0"
    )
    assert describe_manifest(make_manifest("2.0.0.16")) == "none"
