"""The remediation's registries: every problem has a fixer or is declared not remediable; every step kind is whole."""

import pytest

from chalicelib.model import Problem
from chalicelib.remediation.plan import FIXES, NOT_REMEDIABLE
from chalicelib.remediation.steps import STEP_KINDS, Step


def test_every_problem_is_fixed_or_declared_not_remediable():
    fixed, declared = set(FIXES), set(NOT_REMEDIABLE)
    assert not fixed & declared, "a problem cannot be both fixed and not remediable"
    assert set(Problem) - fixed - declared == set()


def test_the_step_registry_holds_every_kind_once():
    assert set(STEP_KINDS) == {
        "enable_key_rotation",
        "create_trail",
        "connect_trail_logs",
        "start_logging",
        "put_event_selectors",
        "put_metric_filter",
        "put_metric_alarm",
        "enable_alarm_actions",
        "create_topic_key",
        "create_topic",
        "subscribe",
    }


@pytest.mark.parametrize("kind", sorted(STEP_KINDS))
def test_each_step_kind_declares_its_permissions_and_its_template_part(kind):
    cls = STEP_KINDS[kind]
    assert cls.iam_actions and all(":" in a for a in cls.iam_actions)
    in_template = cls.template_pass is not None
    assert (cls.cloudformation is not Step.cloudformation) == in_template, "a template step renders itself"
