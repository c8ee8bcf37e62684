"""The project's access policy, decided by Llama Stack 0.7.3's own code.

Each question runs through ``llama_stack.core.access_control.access_control.is_action_allowed``
in the stack's environment, with the users the ``kubernetes`` provider makes (the user name
and the groups under ``roles``) and the resources its stores name (``model::<id>``,
``sql_record::<table>::<id>`` with the row's owner): what the server itself would decide.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from llama_rollout.stack.access import StackClients, auth_config
from llama_rollout.stack.embedded import llama_command

pytestmark = pytest.mark.integration

RUNNER = "system:serviceaccount:ai:pipeline-runner-dspa"
LIGHTSPEED = "system:serviceaccount:ai:lightspeed-model-client"
WORKBENCH = "system:serviceaccount:team:notebook"
STRANGER = "system:serviceaccount:ai:default"
GROUPS = {
    RUNNER: ["system:serviceaccounts", "system:serviceaccounts:ai", "system:authenticated"],
    LIGHTSPEED: ["system:serviceaccounts", "system:serviceaccounts:ai", "system:authenticated"],
    WORKBENCH: ["system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"],
    STRANGER: ["system:serviceaccounts", "system:serviceaccounts:ai", "system:authenticated"],
    "alice": ["llama-stack-auditors", "system:authenticated:oauth", "system:authenticated"],
    "bob": ["system:authenticated:oauth", "system:authenticated"],
}
DECIDE = """
import json, sys
from llama_stack.core.access_control.access_control import is_action_allowed
from llama_stack.core.access_control.datatypes import AccessRule, Action
from llama_stack.core.datatypes import User

given = json.load(sys.stdin)
policy = [AccessRule(**rule) for rule in given["policy"]]

class Resource:
    def __init__(self, kind, identifier, owner):
        self.type, self.identifier = kind, identifier
        self.owner = User(principal=owner, attributes=None) if owner else None

answers = []
for who, roles, action, kind, identifier, owner in given["questions"]:
    user = User(principal=who, attributes={"roles": [who, *roles]})
    answers.append(is_action_allowed(policy, Action(action), Resource(kind, identifier, owner), user))
print(json.dumps(answers))
"""
MODEL = ("model", "vllm/llama")
RECORD = "sql_record::inference_store"
# (who, action, resource type, id, the row's owner) -> what the stack decides
EXPECTED = {
    (RUNNER, "read", *MODEL, None): True,
    (LIGHTSPEED, "read", *MODEL, None): True,
    (WORKBENCH, "read", *MODEL, None): True,
    ("alice", "read", *MODEL, None): False,  # the auditors read the trail, they do not ask
    (STRANGER, "read", *MODEL, None): False,
    (RUNNER, "read", RECORD, "chatcmpl-1", RUNNER): True,  # one's own record
    (LIGHTSPEED, "read", RECORD, "chatcmpl-1", RUNNER): False,  # another's
    (WORKBENCH, "read", RECORD, "chatcmpl-2", WORKBENCH): True,
    (WORKBENCH, "read", RECORD, "chatcmpl-1", RUNNER): False,
    ("alice", "read", RECORD, "chatcmpl-1", RUNNER): True,  # the auditors read every one
    ("alice", "read", RECORD, "chatcmpl-2", WORKBENCH): True,
    ("alice", "delete", RECORD, "chatcmpl-1", RUNNER): False,
    ("bob", "read", RECORD, "chatcmpl-1", RUNNER): False,
    ("alice", "read", "sql_record::responses", "resp-1", RUNNER): False,  # deleted on read
    (WORKBENCH, "delete", "sql_record::responses", "resp-2", WORKBENCH): True,
    (WORKBENCH, "delete", "sql_record::responses", "resp-1", RUNNER): False,
}


def test_the_access_policy_admits_each_principal_to_what_it_needs_and_no_more():
    clients = StackClients(
        pipeline=RUNNER, lightspeed=LIGHTSPEED, workbench=WORKBENCH, auditors="llama-stack-auditors"
    )
    policy = auth_config(clients, api_server_url="https://kubernetes.default.svc")["access_policy"]
    questions = [
        [who, GROUPS[who], action, kind, identifier, owner]
        for who, action, kind, identifier, owner in EXPECTED
    ]
    python = llama_command()[0].rsplit("/", 1)[0] + "/python"
    answered = subprocess.run(
        [python, "-c", DECIDE], input=json.dumps({"policy": policy, "questions": questions}),
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    decided = dict(zip(EXPECTED, json.loads(answered.stdout), strict=True))
    assert decided == EXPECTED
