"""Every route that takes an id answers 404 to a user whose scope does not hold that entity.

The test walks the app's URL map, so a route added later is covered without editing this file;
a route whose argument it cannot fill fails the test until ENTITY_FOR_PREFIX learns it.
"""
from datetime import date

from tests.checkup_helpers import schedule
from tests.factories import make_family, make_town, make_user
from tests.helpers import csrf_token_for, login
from webapp.extensions import db
from webapp.models import ImportDraft, SyncConflict, utcnow
from webapp.notices.service import due_at, send_due_lists

# Pages for supervisors and admins only (checked in scope with a supervisor of the town).
PLANNERS_ONLY = {"checkups.edit", "notices.deliveries", "attendance.report", "attendance.export",
                 "attendance.history", "attendance.targets"}
# Arguments that do not name an entity (no scope to check).
NOT_ENTITIES = {("auth.set_language", "code"), ("static", "filename")}


def _entities(app):
    """Town 1 with villages A and B, town 2 with village C; one family in B and one in C."""
    with app.app_context():
        town1 = make_town("T01", villages=2)
        town2 = make_town("T02", villages=1)
        village_a, village_b = town1.children
        family_b = make_family(village_b.children[0], size=2, enrolled=True)
        make_family(town2.children[0].children[0], size=2)
        make_user("worker_a", "worker", [village_a])
        make_user("worker_b", "worker", [village_b])
        super_1 = make_user("super_1", "supervisor", [town1])
        make_user("super_2", "supervisor", [town2])
        make_user("desk_2", "desk", [town2])
        other = make_user("someone", "worker", [village_b])
        conflict = SyncConflict(entity="person", entity_id=family_b.head_id, field="phone", base_version=1,
                                competitors={}, is_conflict=True, village_id=village_b.id)
        db.session.add(conflict)
        draft = ImportDraft(id="d" * 32, user_id=super_1.id, sha256="0" * 64, rows=[], expires_at=utcnow().replace(year=2999))
        db.session.add(draft)
        db.session.commit()
        day = schedule(town1, date(2026, 12, 1), areas=[village_b], user=super_1)
        [notice_list] = send_due_lists(due_at(day.date))
        return {
            "checkups": day.id,
            "day_id": day.id,
            "notices": notice_list.id,
            "invitation_id": day.invitations[0].id,
            "village_id": village_b.id,
            "town_id": town1.id,  # attendance history and targets: supervisors of the town only
            "conflicts": conflict.id,
            "villages": village_b.id,
            "groups": village_b.children[0].id,
            "households": family_b.id,
            "people": family_b.head_id,
            "admin": other.id,
            "imports": draft.id,  # an import draft is seen by its uploader only
        }


def _url_for_rule(rule, ids):
    args = {}
    for name in rule.arguments:
        if (rule.endpoint, name) in NOT_ENTITIES:
            return None
        prefix = rule.rule.strip("/").split("/")[0]
        key = name if name in ids else prefix
        if key not in ids:
            raise AssertionError(f"{rule.rule}: teach test_scope_routes which entity <{name}> names")
        args[name] = ids[key]
    return rule.build(args)[1]


def _entity_routes(app, ids):
    for rule in app.url_map.iter_rules():
        if not rule.arguments:
            continue
        url = _url_for_rule(rule, ids)
        if url is not None:
            yield rule, url


def _answers(client, rule, url):
    token = csrf_token_for(client, "/")
    out = {}
    if "GET" in rule.methods:
        out["GET"] = client.get(url).status_code
    if "POST" in rule.methods:
        out["POST"] = client.post(url, data={"csrf_token": token}).status_code
    return out


def test_every_id_route_hides_entities_outside_the_users_scope(app, client):
    ids = _entities(app)
    routes = list(_entity_routes(app, ids))
    assert len(routes) >= 8  # the register's pages and forms, and the admin's user pages
    leaks = []
    for username in ("worker_a", "super_2", "desk_2"):
        login(client, username)
        for rule, url in routes:
            for method, status in _answers(client, rule, url).items():
                if status != 404:
                    leaks.append(f"{username} {method} {url} ({rule.endpoint}) → {status}")
        client.post("/logout", data={"csrf_token": csrf_token_for(client, "/")})
    assert leaks == []


def test_the_same_routes_open_for_a_user_in_scope(app, client):
    """Guards the test above: the entity map is right, so a 404 there means scope, not a bad URL."""
    ids = _entities(app)
    login(client, "worker_b")
    planner = app.test_client()
    login(planner, "super_1")
    wrong = []
    for rule, url in _entity_routes(app, ids):
        if rule.endpoint.startswith(("admin.", "imports.")):
            continue  # admin pages are for admins only; import drafts for their uploader (test_imports)
        who = planner if rule.endpoint in PLANNERS_ONLY else client
        if "GET" in rule.methods and who.get(url).status_code != 200:
            wrong.append(f"GET {url} ({rule.endpoint})")
    assert wrong == []


def test_a_county_user_sees_every_village_of_the_countys_towns_and_nothing_else(app, client, runner):
    with app.app_context():
        inside, also = make_town("T01", villages=1), make_town("T02", villages=1)
        outside = make_town("T03", villages=1)
        ids = [t.children[0].id for t in (inside, also, outside)]
    assert runner.invoke(args=["area", "county", "C01", "示范县", "T01", "T02"]).exit_code == 0
    with app.app_context():
        from tests.factories import area

        make_user("county", "supervisor", [area("C01")])
    login(client, "county")
    assert [client.get(f"/villages/{v}").status_code for v in ids] == [200, 200, 404]
