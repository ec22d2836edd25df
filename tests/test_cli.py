"""The flask commands a newcomer and an admin use."""
import sqlalchemy as sa

from tests.factories import make_town
from webapp.extensions import db
from webapp.models import AuditEntry, User


def test_user_add_takes_password_from_environment(app, runner, monkeypatch):
    with app.app_context():
        make_town("T01", villages=2)
    monkeypatch.setenv("DOORSTEP_PASSWORD", "longenough")
    result = runner.invoke(args=["user", "add", "zhao", "--role", "worker", "--area", "T01-V01",
                                 "--area", "T01-V02"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "zhao"))
        assert user.check_password("longenough")
        assert [a.code for a in user.areas] == ["T01-V01", "T01-V02"]
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.entity_id == user.id)).action == "create"


def test_user_add_refuses_unknown_area_and_wrong_kind(app, runner, monkeypatch):
    with app.app_context():
        make_town("T01", villages=1)
    monkeypatch.setenv("DOORSTEP_PASSWORD", "longenough")
    unknown = runner.invoke(args=["user", "add", "a1", "--role", "worker", "--area", "NOPE"])
    assert unknown.exit_code != 0 and "NOPE" in unknown.output
    wrong_kind = runner.invoke(args=["user", "add", "a2", "--role", "supervisor", "--area", "T01-V01"])
    assert wrong_kind.exit_code != 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_user_add_without_password_when_not_interactive_fails_clearly(app, runner, monkeypatch):
    monkeypatch.delenv("DOORSTEP_PASSWORD", raising=False)
    result = runner.invoke(args=["user", "add", "a1", "--role", "admin"])
    assert result.exit_code != 0 and "DOORSTEP_PASSWORD" in result.output


def test_area_list_prints_code_kind_name_parent(app, runner):
    with app.app_context():
        make_town("T01", villages=1, groups_per_village=1)
    lines = runner.invoke(args=["area", "list"]).output.strip().splitlines()
    assert lines[0].split("\t") == ["T01", "town", "T01镇", "-"]
    assert lines[1].split("\t")[1:] == ["village", "东风村", "T01"]
    assert lines[2].split("\t")[0] == "T01-V01-G01" and lines[2].endswith("T01-V01")


def test_demo_if_empty_builds_once(app, runner):
    first = runner.invoke(args=["demo", "--people", "400", "--if-empty"])
    assert first.exit_code == 0, first.output
    assert "zhanzhang" in first.output and "cunganbu1" in first.output
    second = runner.invoke(args=["demo", "--people", "400", "--if-empty"])
    assert second.exit_code == 0 and "already" in second.output
    assert "zhanzhang" in second.output  # the logins are printed again for the newcomer


def test_visits_load_form_stores_a_new_version_and_refuses_an_old_one(app, runner, tmp_path):
    from tests.factories import make_user
    from webapp.visits.definitions import FORMS_DIR, current_form

    with app.app_context():
        make_user("root", "admin")
    newer = tmp_path / "hv.yaml"
    newer.write_text((FORMS_DIR / "household_visit.yaml").read_text(encoding="utf-8").replace("version: 1", "version: 2"),
                     encoding="utf-8")
    result = runner.invoke(args=["visits", "load-form", str(newer), "--as-user", "root"])
    assert result.exit_code == 0 and "household_visit version 2" in result.output, result.output
    again = runner.invoke(args=["visits", "load-form", str(newer), "--as-user", "root"])
    assert again.exit_code != 0 and "not newer" in again.output
    with app.app_context():
        assert current_form("household_visit")["version"] == 2
