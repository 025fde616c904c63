"""The parts a step is built from: artifacts, desired state, signing, the journal, the session.

Rules: a part knows nothing of any step (``release.steps``) or of the sandbox's lifecycle; it may use
the outside (``release.outside``) through its protocols, and the shared ``release.errors``.
"""
