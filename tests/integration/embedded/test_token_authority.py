"""The embedded token authority answers SelfSubjectReviews as the Kubernetes API server does."""

from __future__ import annotations

import json
import os
import stat

import pytest
import requests

from llama_rollout.embedded.service_accounts import Identity, TokenBook
from llama_rollout.embedded.token_authority import REVIEWS_PATH, create_app
from tests.servers import serve_app

pytestmark = pytest.mark.integration
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


@pytest.fixture
def book(tmp_path):
    return TokenBook(tmp_path / "tokens.json")


@pytest.fixture
def authority(book):
    with serve_app(create_app(book)) as url:
        yield url


def review(url, token=None, body=REVIEW, **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{url}{REVIEWS_PATH}", json=body, headers=headers, timeout=10)


def test_a_service_account_s_token_is_its_user_with_its_groups(book, authority):
    runner = Identity.of_service_account("ai", "pipeline-runner-dspa")
    answer = review(authority, book.token(runner))
    assert answer.status_code == 201
    assert answer.json()["kind"] == "SelfSubjectReview"
    info = answer.json()["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:ai:pipeline-runner-dspa"
    assert info["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:ai",
        "system:authenticated",
    ]
    assert info["uid"]


def test_unknown_tokens_and_no_tokens_are_refused_as_the_api_server_refuses_them(book, authority):
    token = book.token(Identity.of_user("alice", ("llama-stack-auditors",)))
    unknown = review(authority, "not-a-token")
    assert unknown.status_code == 401
    assert unknown.json() | {"message": ""} == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "", "reason": "Unauthorized", "code": 401,
    }  # fmt: skip
    # No token, an empty one or another scheme: system:anonymous, whom RBAC refuses.
    for anonymous in (review(authority), review(authority, ""),
                      review(authority, Authorization=f"Basic {token}")):  # fmt: skip
        assert anonymous.status_code == 403
        assert (
            'User "system:anonymous" cannot create resource "selfsubjectreviews"'
            in (anonymous.json()["message"])
        )
    # The token is the second word of the header, as the API server reads it.
    assert review(authority, f"{token} trailing words").status_code == 201


def test_a_review_takes_what_the_body_leaves_out_from_the_url(book, authority):
    token = book.token(Identity.of_user("alice", ("llama-stack-auditors",)))
    answer = review(authority, token, body={})  # what the kubernetes client sends
    assert answer.status_code == 201
    assert answer.json()["status"]["userInfo"]["groups"] == [
        "llama-stack-auditors", "system:authenticated:oauth", "system:authenticated"
    ]  # fmt: skip
    assert answer.json()["metadata"]["creationTimestamp"].endswith("Z")
    as_yaml = requests.post(
        f"{authority}{REVIEWS_PATH}", data="kind: SelfSubjectReview\n",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"},
        timeout=10,
    )  # fmt: skip
    assert as_yaml.status_code == 201


def test_a_request_that_is_not_a_self_subject_review_is_refused(book, authority):
    token = book.token(Identity.of_user("alice", ("llama-stack-auditors",)))
    other = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
    assert review(authority, token, body=other).status_code == 400
    older = {"apiVersion": "authentication.k8s.io/v1beta1", "kind": "SelfSubjectReview"}
    assert review(authority, token, body=older).status_code == 400
    assert review(authority, token, body=["SelfSubjectReview"]).status_code == 400
    headers = {"Authorization": f"Bearer {token}"}
    garbled = requests.post(
        f"{authority}{REVIEWS_PATH}", data=b"{not: [json", timeout=10,
        headers={**headers, "Content-Type": "application/json"},
    )  # fmt: skip
    assert garbled.status_code == 400
    text = requests.post(
        f"{authority}{REVIEWS_PATH}", data=json.dumps(REVIEW), timeout=10,
        headers={**headers, "Content-Type": "text/plain"},
    )  # fmt: skip
    assert text.status_code == 415
    listing = requests.get(f"{authority}{REVIEWS_PATH}", headers=headers, timeout=10)
    assert listing.status_code == 403  # RBAC: no one may list reviews
    assert 'cannot list resource "selfsubjectreviews"' in listing.json()["message"]
    elsewhere = requests.post(f"{authority}/apis/authentication.k8s.io/v1/tokenreviews", timeout=10)
    assert elsewhere.status_code == 404


def test_tokens_are_kept_private_and_stable(book):
    runner = Identity.of_service_account("ai", "pipeline-runner-dspa")
    first = book.issue(runner)
    assert book.issue(Identity.of_service_account("ai", "pipeline-runner-dspa")) == first
    token = first.read_text()
    assert len(token) >= 40 and book.token(runner) == token
    for path in (book.path, first):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert book.identity_of(token).username == runner.username
    assert book.identity_of(token[:-1]) is None
    assert book.identity_of("") is None
