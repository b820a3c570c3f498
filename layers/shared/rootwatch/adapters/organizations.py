"""The accounts of an AWS organisation (Organizations ListAccounts), for `accounts import`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient


@dataclass(frozen=True, slots=True)
class OrganizationAccount:
    account_id: str
    name: str
    status: str


def organization_accounts(client: OrganizationsClient) -> list[OrganizationAccount]:
    """Every account of the caller's organisation (management or delegated admin account)."""
    accounts: list[OrganizationAccount] = []
    for page in client.get_paginator("list_accounts").paginate():
        for account in page.get("Accounts", []):
            accounts.append(
                OrganizationAccount(
                    account_id=str(account.get("Id", "")),
                    name=str(account.get("Name", "")),
                    status=str(account.get("Status", "")),
                )
            )
    return sorted(accounts, key=lambda account: account.account_id)
