"""Assume-role sessions for cross-account access: a boto3 session whose credentials are an IAM role's,
refreshed by botocore before they lapse (a nightly run can outlast one role session).

STS is reached the usual boto3 way, so ``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL`` and the profile's
settings apply (a VPC endpoint, or a local STS in tests). The role's keys never leave botocore's
credential object; nothing here prints or stores them.
"""

from __future__ import annotations

import boto3
import botocore.session
from botocore.credentials import CredentialProvider, DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from ferry.credentials import LAPSED_CREDENTIALS, RENEW, one_line
from ferry.errors import FatalError

SESSION_NAME = "ferry-replicate"
DURATION_SECONDS = 3600


class _AssumeRoleProvider(CredentialProvider):
    """Credentials of ``role_arn``, fetched with the base session's credentials and refreshed on demand."""

    METHOD = "ferry-assume-role"
    CANONICAL_NAME = "ferry-assume-role"

    def __init__(self, base: boto3.session.Session, role_arn: str, region: str | None):
        super().__init__()
        self._base = base
        self._role_arn = role_arn
        self._region = region

    def _lapsed(self, err: Exception) -> FatalError:
        return FatalError(f"cannot assume role {self._role_arn}: the AWS credentials it is assumed with could not be "
                          f"refreshed ({one_line(err)}); {RENEW}: the run resumes where it stopped")

    def _fetch(self) -> dict[str, str]:
        """The role's credentials. Raises :class:`FatalError`: AssumeRole refused, STS not answering, or the
        credentials the role is assumed with lapsed (an SSO session that ended)."""
        try:
            sts = self._base.client("sts", region_name=self._region)
        except LAPSED_CREDENTIALS as err:
            raise self._lapsed(err) from None
        try:
            out = sts.assume_role(RoleArn=self._role_arn, RoleSessionName=SESSION_NAME,
                                  DurationSeconds=DURATION_SECONDS)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            raise FatalError(f"cannot assume role {self._role_arn} ({code}); check the role's trust policy "
                             "and the caller's sts:AssumeRole permission") from None
        except LAPSED_CREDENTIALS as err:  # before BotoCoreError, which they are: STS was never asked
            raise self._lapsed(err) from None
        except BotoCoreError as err:
            # No answer at all (no route, DNS, a proxy, a timeout): the role's policies were never asked.
            raise FatalError(f"cannot assume role {self._role_arn}: STS at {sts.meta.endpoint_url} did not answer "
                             f"({type(err).__name__}); check the network path to it (VPC endpoint, proxy, "
                             "AWS_ENDPOINT_URL_STS)") from None
        creds = out["Credentials"]
        return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"], "expiry_time": creds["Expiration"].isoformat()}

    def load(self) -> DeferredRefreshableCredentials:
        return DeferredRefreshableCredentials(refresh_using=self._fetch, method=self.METHOD)


def assumed_session(base: boto3.session.Session, role_arn: str, region: str | None) -> boto3.session.Session:
    """A boto3 session in ``region`` that signs as ``role_arn`` (assumed with ``base``'s credentials).

    The role is assumed lazily, on the first signed request; a refused AssumeRole raises
    :class:`FatalError` then.
    """
    core = botocore.session.Session()
    resolver = core.get_component("credential_provider")
    # Ours first: the role's credentials win over environment variables and profiles.
    resolver.providers.insert(0, _AssumeRoleProvider(base, role_arn, region or base.region_name))
    return boto3.session.Session(botocore_session=core, region_name=region or base.region_name)
