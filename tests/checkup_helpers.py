"""A town with people, a supervisor and workers, and a check-up day made through the service."""
from __future__ import annotations

from datetime import date, time

from tests.factories import make_family, make_person, make_town, make_user
from webapp.checkups import service
from webapp.extensions import db
from webapp.models import User


def town_with_people(session=None):
    """T01 with villages V01 (2 groups) and V02; enrolled families, one person away, one not enrolled,
    one deceased. Users: boss (supervisor of T01), w1 (worker of V01, with e-mail), w2 (worker of V02)."""
    town = make_town("T01", villages=2, groups_per_village=2)
    v1, v2 = town.children
    make_family(v1.children[0], size=3, enrolled=True, phone="13900000001")
    make_family(v1.children[1], size=2, enrolled=True)
    household = make_family(v2.children[0], size=2, enrolled=True)
    make_person(household, name="外出人", status="away", away_place="浙江宁波", enrolled=True)
    make_person(household, name="未登记", enrolled=False)
    make_person(household, name="已故人", status="deceased", enrolled=True)
    make_user("boss", "supervisor", [town])
    worker = make_user("w1", "worker", [v1])
    worker.email = "w1@example.org"
    make_user("w2", "worker", [v2])
    db.session.commit()
    return town


def schedule(town, day_date: date, *, areas=None, start=time(8, 0), end=time(12, 0), user=None):
    boss = user or db.session.scalar(db.select(User).where(User.username == "boss"))
    day = service.create_day(town=town, day_date=day_date, start=start, end=end, station="镇卫生院",
                             services=["blood_pressure", "breast"], bring="身份证", areas=areas or town.children,
                             user=boss)
    db.session.commit()
    return day
