"""AWS credentials that lapse during a run: what botocore raises, and what the person running ferry must do.

A profile's credentials can end while ferry runs (an SSO session that expired, a ``credential_process``
that starts failing): ferry cannot renew them, so the message says who must, and that a rerun resumes.
"""

from __future__ import annotations

from botocore.exceptions import CredentialRetrievalError, SSOError, TokenRetrievalError

LAPSED_CREDENTIALS = (CredentialRetrievalError, SSOError, TokenRetrievalError)
RENEW = "renew them (for an SSO profile: aws sso login) and rerun"


def one_line(err: Exception) -> str:
    """``err``'s text on one line (a credential_process's own error output ends in a newline, or has several)."""
    return " ".join(str(err).split())
