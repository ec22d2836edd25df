"""An admin manages users on the web; nobody else can see those pages."""
import sqlalchemy as sa

from tests.factories import make_town, make_user
from tests.helpers import login, post_form
from webapp.extensions import db
from webapp.models import AuditEntry, User


def test_admin_adds_a_worker_with_a_village(app, client):
    with app.app_context():
        make_town("T01", villages=2)
        make_user("root", "admin", [])
    login(client, "root")
    response = post_form(client, "/admin/users/new", {
        "username": "zhou", "display_name": "周专干", "role": "worker", "areas": ["T01-V02"],
        "password": "longenough", "email": "zhou@example.org"})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "zhou"))
        assert [a.code for a in user.areas] == ["T01-V02"] and user.check_password("longenough")
        assert user.email == "zhou@example.org"
        assert db.session.scalar(sa.select(AuditEntry.action).where(AuditEntry.entity_id == user.id)) == "create"
    assert "周专干" in client.get("/admin/users").get_data(as_text=True)


def test_admin_form_explains_what_is_wrong_and_saves_nothing(app, client):
    with app.app_context():
        make_town("T01", villages=1)
        make_user("root", "admin", [])
    login(client, "root")
    response = post_form(client, "/admin/users/new", {
        "username": "zhou", "role": "supervisor", "areas": ["T01-V01"], "password": "short",
        "email": "zhou at example"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "密码至少要 8 位" in html
    assert 'id="areas-error"' in html and 'id="password-error"' in html and 'id="email-error"' in html
    assert "name@example.org" in html
    with app.app_context():
        assert db.session.scalar(sa.select(User.id).where(User.username == "zhou")) is None


def test_user_pages_are_hidden_from_everyone_but_admins(app, client):
    with app.app_context():
        town = make_town("T01", villages=1)
        make_user("boss", "supervisor", [town])
    login(client, "boss")
    assert client.get("/admin/users").status_code == 404
    assert client.get("/admin/users/new").status_code == 404
