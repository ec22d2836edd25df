"""A deterministic demo town: areas, households, people and logins.

The same seed must always give the same town (names, ids, UUIDs), so every
random choice comes from one ``random.Random(seed)`` and ages are measured from
a fixed reference day, never the clock. Rows are written with bulk executemany
inserts so that a county-sized town (300,000 people) builds in minutes; their sync state
(what a phone pulls) is written in bulk too, in the same transaction.
"""
from __future__ import annotations

import random
import uuid
from bisect import bisect
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate

import sqlalchemy as sa

from .desk.search_index import rebuild as rebuild_search_keys
from .models import Area, Household, Person, User
from .pinyin import pinyin_keys
from .register.sync_backfill import backfill_sync_state

REFERENCE_DAY = date(2026, 11, 1)
# The six-digit county code every local ID number starts with. It must have been a valid
# code in every birth year (stdnum checks this): 140121 清徐县 has never changed.
AREA_CODE = "140121"
TOWN = (AREA_CODE + "101", "青石镇")
VILLAGES = ["东山村", "柳河村", "石桥村", "杨家庄村", "南岗村", "桃园村", "白沙村", "龙泉村", "北洼村", "松林村"]
COMMITTEE = "镇中社区"
GROUPS_TOTAL = 302
CHUNK = 5000
DEMO_PASSWORD = "demo1234"
_YEAR = 365.2425

SURNAMES = (
    "王 7.1 李 7.0 张 6.7 刘 5.4 陈 4.5 杨 3.1 赵 2.3 黄 2.2 周 2.1 吴 2.0 徐 1.7 孙 1.5 胡 1.3 朱 1.3 "
    "高 1.2 林 1.2 何 1.2 郭 1.1 马 1.1 罗 0.9 梁 0.9 宋 0.8 郑 0.8 谢 0.7 韩 0.7 唐 0.7 冯 0.6 于 0.6 "
    "董 0.6 程 0.5 曹 0.5 袁 0.5 邓 0.5 许 0.5 傅 0.4 沈 0.4 曾 0.4 彭 0.4 吕 0.4 苏 0.4 卢 0.4 蒋 0.4 "
    "蔡 0.3 贾 0.3 丁 0.3 魏 0.3 薛 0.3 叶 0.3 阎 0.3 余 0.3 潘 0.3 杜 0.3 戴 0.3 夏 0.2 钟 0.2 田 0.2"
).split()
_SURNAME_LIST = SURNAMES[0::2]
_SURNAME_CUM = list(accumulate(float(w) for w in SURNAMES[1::2]))

# Given-name pools by sex and by the era a person was born in: (single names, first chars, second chars).
NAME_POOLS = {
    ("M", "old"): ("福 贵 林 山 生 成 明 华", "建 国 志 德 永 福 长 金 树 玉 文 宝 春 明 成 振 新 立 学 保 广 庆 洪",
                   "国 华 军 强 民 明 林 山 生 福 平 安 成 忠 才 贵 发 荣 海 祥 江 田"),
    ("F", "old"): ("英 兰 珍 芳 梅 凤", "秀 桂 玉 凤 淑 翠 春 兰 素 美 金 爱 月 冬 香",
                   "英 兰 珍 芳 华 梅 荣 琴 云 莲 花 霞 凤 娥 香 芝"),
    ("M", "mid"): ("伟 强 磊 军 勇 杰 涛 斌 超 明 刚 辉 鹏 波 峰 亮 东 林", "海 建 晓 志 俊 振 小 国 春 文 永 宏 立 红",
                   "峰 伟 军 涛 波 明 东 刚 杰 鹏 辉 亮 斌 龙 华 平 兵 飞"),
    ("F", "mid"): ("芳 娜 敏 静 丽 艳 娟 霞 燕 红 梅 玲 萍 莉", "晓 丽 春 海 红 小 秀 雪 美 艳 金 玉 彩",
                   "燕 红 梅 丽 娟 玲 霞 芳 静 敏 艳 萍 丹 华 云 琴"),
    ("M", "young"): ("浩 宇 轩 博 鑫 涛 凯 帅 健 杰 磊 鹏 晨 阳", "子 梓 浩 宇 俊 一 天 博 泽 思 嘉 皓 明 家 晨 睿",
                     "轩 涵 宇 然 航 睿 阳 泽 豪 辰 杰 博 铭 楷 洋 诚 恒"),
    ("F", "young"): ("婷 欣 怡 颖 琪 悦 洁 雪 倩 佳 璐 瑶", "子 梓 欣 诗 雨 佳 思 可 紫 一 语 梦 晓 若 雅",
                     "涵 萱 怡 琪 彤 妍 琳 菲 悦 欣 雨 瑶 婷 然 琪 宁 馨"),
}
NAME_POOLS = {k: tuple(p.split() for p in v) for k, v in NAME_POOLS.items()}
SINGLE_NAME_SHARE = {"old": 0.15, "mid": 0.35, "young": 0.2}

PHONE_PREFIXES = [str(p) for p in [*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159,
                                   173, 175, 176, 177, 178, *range(180, 190), 191, 198, 199]]
AWAY_PLACES = ["浙江省宁波市", "广东省东莞市", "江苏省苏州市", "广东省深圳市", "上海市", "北京市",
               "浙江省杭州市", "山东省青岛市", "天津市", "江苏省无锡市", "福建省厦门市", "山东省烟台市"]
AWAY_WEIGHTS = list(accumulate([14, 12, 12, 10, 10, 8, 8, 9, 5, 5, 4, 3]))
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
HOUSEHOLD_KINDS = ["single_elder", "single_adult", "elder_couple", "couple", "nuclear", "stem", "elder_led"]
HOUSEHOLD_CUM = list(accumulate([9, 4, 13, 6, 33, 18, 17]))

LOGINS = [  # username, role, display name, which area (None / "town" / village index)
    ("admin", "admin", "系统管理员", None),
    ("zhanzhang", "supervisor", "周站长", "town"),
    ("qiantai", "desk", "李晓燕", "town"),
    ("cunganbu1", "worker", "王秀梅", 0),
    ("cunganbu2", "worker", "赵丽娟", 1),
]


def chinese_numeral(n: int) -> str:
    """1 → 一, 12 → 十二, 30 → 三十, 37 → 三十七 (for 1 ≤ n ≤ 99)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


def id_check_digit(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a resident ID number."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, ID_WEIGHTS, strict=True)) % 11]


def database_is_empty(session) -> bool:
    """True when there are no areas and no users, i.e. a demo may be built."""
    no_areas = session.execute(sa.select(Area.id).limit(1)).first() is None
    return no_areas and session.execute(sa.select(User.id).limit(1)).first() is None


class _Town:
    """The random state of one build; every draw goes through ``self.rng``."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.id_bodies: set[str] = set()
        self.phones: set[str] = set()
        self.pinyin: dict[str, tuple[str, str]] = {}

    # -- small draws ---------------------------------------------------------------------------
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def surname(self, local: list[str] | None = None) -> str:
        if local and self.rng.random() < 0.35:
            return self.rng.choice(local)
        return _SURNAME_LIST[bisect(_SURNAME_CUM, self.rng.random() * _SURNAME_CUM[-1])]

    def given_name(self, sex: str, birth: date) -> str:
        era = "old" if birth.year < 1970 else "mid" if birth.year < 1995 else "young"
        single, first, second = NAME_POOLS[(sex, era)]
        if self.rng.random() < SINGLE_NAME_SHARE[era]:
            return self.rng.choice(single)
        return self.rng.choice(first) + self.rng.choice(second)

    def birth(self, age: float) -> date:
        return REFERENCE_DAY - timedelta(days=int(age * _YEAR))

    def phone(self) -> str:
        while True:
            number = self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10 ** 8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def id_number(self, birth: date, sex: str) -> str:
        while True:
            seq = self.rng.randrange(500) * 2 + (1 if sex == "M" else 0)  # odd for men, even for women
            body = f"{AREA_CODE}{birth:%Y%m%d}{seq:03d}"
            if body not in self.id_bodies:
                self.id_bodies.add(body)
                return body + id_check_digit(body)

    # -- households ----------------------------------------------------------------------------
    def children(self, mother_age: float, count: int, boy: str, girl: str) -> list[tuple[str, str, float]]:
        """(relation, sex, age) of up to ``count`` children born when the mother was 20–40."""
        rng, kids = self.rng, []
        age = mother_age - rng.uniform(21, 30)
        for _ in range(count):
            if age < 0.1:
                break
            sex = "M" if rng.random() < 0.52 else "F"
            kids.append((boy if sex == "M" else girl, sex, age))
            age -= rng.uniform(1.5, 6)
        return kids

    def household_members(self, local: list[str]) -> list[tuple[str, str, float, str]]:
        """(relation, sex, age, surname) of one household, the head first."""
        rng = self.rng
        kind = HOUSEHOLD_KINDS[bisect(HOUSEHOLD_CUM, rng.random() * HOUSEHOLD_CUM[-1])]
        if kind == "single_elder":
            return [("户主", "F" if rng.random() < 0.6 else "M", rng.uniform(62, 94), self.surname(local))]
        if kind == "single_adult":
            return [("户主", "M" if rng.random() < 0.7 else "F", rng.uniform(22, 58), self.surname(local))]
        if kind == "elder_led":
            son = rng.uniform(24, 45)
            family = self.surname(local)
            if rng.random() < 0.25:  # widowed mother heads the household
                out = [("户主", "F", son + rng.uniform(21, 32), self.surname())]
            else:
                head = son + rng.uniform(23, 33)
                out = [("户主", "M", head, family), ("配偶", "F", max(head - rng.uniform(0, 5), son + 20), self.surname())]
            wife = max(20.0, son - rng.uniform(-2, 5))
            out += [("子", "M", son, family), ("儿媳", "F", wife, self.surname())]
            kids = self.children(wife, rng.choice([1, 1, 2, 2, 3]), "孙子", "孙女")
            out += [(r, s, a, family if rng.random() < 0.95 else out[-1][3]) for r, s, a in kids]
            if rng.random() < 0.15:
                out.append(("女", "F", max(18.0, son - rng.uniform(-4, 6)), family))
            return out[:6]
        if kind == "elder_couple":
            head = rng.uniform(58, 88)
            return [("户主", "M", head, self.surname(local)), ("配偶", "F", max(55.0, head - rng.uniform(0, 6)), self.surname())]
        husband = rng.uniform(23, 57) if kind == "couple" else rng.uniform(25, 55)
        wife = max(20.0, husband - rng.uniform(-2, 6))
        husband_surname, wife_surname = self.surname(local), self.surname()
        if rng.random() < 0.12:  # wife is the registered head
            out = [("户主", "F", wife, wife_surname), ("配偶", "M", husband, husband_surname)]
        else:
            out = [("户主", "M", husband, husband_surname), ("配偶", "F", wife, wife_surname)]
        if kind == "couple":
            return out
        kids = self.children(wife, rng.choice([1, 1, 2, 2, 2, 3]), "子", "女")
        out += [(r, s, a, husband_surname if rng.random() < 0.92 else wife_surname) for r, s, a in kids]
        if kind == "stem" and out[0][1] == "M":  # the head's parents live with them
            if rng.random() < 0.45:
                out.append(("父亲", "M", husband + rng.uniform(22, 34), husband_surname))
            out.append(("母亲", "F", husband + rng.uniform(20, 30), self.surname()))
        return [m for m in out if m[2] < 99][:6]

    def person_row(self, relation, sex, age, surname, taken: set[str]) -> dict:
        rng = self.rng
        birth = self.birth(age)
        for _ in range(6):  # no two members of a household share a name
            name = surname + self.given_name(sex, birth)
            if name not in taken:
                break
        taken.add(name)
        if name not in self.pinyin:
            self.pinyin[name] = pinyin_keys(name)
        age = (REFERENCE_DAY - birth).days / _YEAR
        adult = age >= 18
        status, away_place, away_contact = "resident", "", ""
        if relation != "户主" and age >= 75 and rng.random() < 0.03:
            status = "deceased"
        elif relation in ("子", "女") and age >= 22 and rng.random() < 0.05:
            status = "moved_out"
        phone = self.phone() if adult and rng.random() < (0.55 if age >= 75 else 0.93) else None
        if status == "resident" and 18 <= age < 60 and rng.random() < (0.22 if age < 46 else 0.08):
            status = "away"
            away_place = AWAY_PLACES[bisect(AWAY_WEIGHTS, rng.random() * AWAY_WEIGHTS[-1])]
            away_contact = phone or self.phone()
        has_id = rng.random() < (0.95 if age >= 16 else 0.55)
        full, initials = self.pinyin[name]
        return {
            "id": self.uuid(), "name": name, "name_pinyin": full, "name_initials": initials,
            "sex": sex, "birth_date": birth, "relation": relation,
            "id_number": self.id_number(birth, sex) if has_id else None, "phone": phone,
            "status": status, "away_place": away_place, "away_contact": away_contact,
            # The check-up programme covers people of working age who still belong to the town.
            "enrolled": status in ("resident", "away") and 18 <= age < 65 and rng.random() < 0.97
                        or status == "resident" and 65 <= age < 75 and rng.random() < 0.6,
        }


def _area_rows(town: _Town) -> tuple[list[dict], list[dict], list[dict]]:
    """Town, village-level units and groups with hierarchical codes (town + 3 + 3 digits)."""
    rng = town.rng
    town_row = {"id": town.uuid(), "code": TOWN[0], "kind": "town", "name": TOWN[1], "parent_id": None}
    units = [(name, "village") for name in VILLAGES] + [(COMMITTEE, "committee")]
    sizes = [rng.randint(23, 31) for _ in units]
    while sum(sizes) != GROUPS_TOTAL:  # spread the rest one group at a time
        i = rng.randrange(len(sizes))
        sizes[i] += 1 if sum(sizes) < GROUPS_TOTAL else -1
    villages, groups = [], []
    for i, ((name, kind), size) in enumerate(zip(units, sizes, strict=True), start=1):
        village = {"id": town.uuid(), "code": f"{TOWN[0]}{i:03d}", "kind": kind, "name": name,
                   "parent_id": town_row["id"]}
        villages.append(village)
        suffix = "居民组" if kind == "committee" else "村民组"
        for j in range(1, size + 1):
            groups.append({"id": town.uuid(), "code": f"{village['code']}{j:03d}", "kind": "group",
                           "name": f"第{chinese_numeral(j)}{suffix}", "parent_id": village["id"]})
    return [town_row], villages, groups


def _insert(session, model, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(sa.insert(model.__table__), rows[start:start + CHUNK])


def build_demo(session, seed: int = 1, people: int = 12000, password: str = DEMO_PASSWORD) -> list[dict]:
    """Fill an empty database with a demo town of about ``people`` residents; return the logins."""
    town = _Town(seed)
    rng = town.rng
    towns, villages, groups = _area_rows(town)
    for rows in (towns, villages, groups):  # parents before children: foreign keys are checked per row
        _insert(session, Area, rows)
    by_id = {v["id"]: v for v in villages}
    local_surnames = {v["id"]: [town.surname(), town.surname()] for v in villages}
    group_cum = list(accumulate(rng.uniform(0.6, 1.4) for _ in groups))
    house_counter = [0] * len(groups)
    stamp = datetime.now(timezone.utc).replace(tzinfo=None)
    town_id = towns[0]["id"]

    households, persons, heads = [], [], []
    while len(persons) < people:
        gi = bisect(group_cum, rng.random() * group_cum[-1])
        group = groups[gi]
        village = by_id[group["parent_id"]]
        house_counter[gi] += 1
        seq = house_counter[gi]
        hid = town.uuid()
        short = group["name"][: -3]  # 第三村民组 → 第三
        households.append({
            "id": hid, "group_id": group["id"], "village_id": village["id"], "town_id": town_id,
            "number": str(seq), "address": f"{village['name']}{short}组 {seq}号",
            "head_id": None, "version": 1, "created_at": stamp, "updated_at": stamp,
        })
        members = town.household_members(local_surnames[village["id"]])[: people - len(persons)]
        taken: set[str] = set()
        for relation, sex, age, surname in members:
            row = town.person_row(relation, sex, age, surname, taken)
            row.update(household_id=hid, group_id=group["id"], village_id=village["id"], town_id=town_id,
                       version=1, created_at=stamp, updated_at=stamp)
            persons.append(row)
        heads.append({"hid": hid, "head": persons[-len(members)]["id"]})

    _insert(session, Household, households)
    _insert(session, Person, persons)
    rebuild_search_keys(session)  # rows written without the ORM: its flush hook did not see them
    table = Household.__table__
    set_head = table.update().where(table.c.id == sa.bindparam("hid")).values(head_id=sa.bindparam("head"))
    for start in range(0, len(heads), CHUNK):
        session.execute(set_head, heads[start:start + CHUNK])

    # Rows written here skip the merge: give them sync state, or no phone could ever pull them.
    backfill_sync_state(session, commit=False)
    logins = _add_users(session, town, towns + villages, password)
    session.commit()
    return logins


def demo_logins(password: str = DEMO_PASSWORD) -> list[dict]:
    """The demo logins; area codes do not depend on the seed, so this holds for any demo town."""
    village_codes = [f"{TOWN[0]}{i:03d}" for i in range(1, len(VILLAGES) + 1)]
    return [
        {"username": username, "password": password, "role": role, "display_name": display_name,
         "areas": [] if where is None else [TOWN[0] if where == "town" else village_codes[where]]}
        for username, role, display_name, where in LOGINS
    ]


def _add_users(session, town: _Town, areas: list[dict], password: str) -> list[dict]:
    by_code = {a["code"]: a["id"] for a in areas}
    logins = demo_logins(password)
    for login in logins:
        user = User(id=town.uuid(), username=login["username"], display_name=login["display_name"],
                    role=login["role"], active=True)
        user.set_password(password)
        user.areas = [session.get(Area, by_code[code]) for code in login["areas"]]
        session.add(user)
    session.flush()
    return logins
