"""A deterministic, invented project library for the demo district, as import-template records.

Everything here is fictitious (names, owners, money) but shaped like a real county library:
every domain and stage, points, pipelines crossing towns, site polygons, valid project and
credit codes, funding, and dates that respect the stage rules. Coordinates are WGS84 except a
share of points written in GCJ-02 (as copied from AMap), which the importer converts.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import shapely
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from geo.crs import wgs84_to_gcj02
from registry.validation import CREDIT_ALPHABET, credit_check_char
from registry.vocab import DOMAINS, FUNDING_SOURCES, STAGES

CHECK_CHARS = CREDIT_ALPHABET  # the demo project codes' last character draws from the same alphabet

# How many projects of each domain per 100, and who leads them.
DOMAIN_WEIGHTS = {"industry": 30, "municipal": 16, "medical": 9, "agriculture": 9, "transport": 8,
                  "building": 9, "education": 6, "culture_tourism": 4, "sports": 3, "recycling": 6}
LEAD_UNITS = {"industry": "区工业和信息化局", "agriculture": "区农业农村局", "transport": "区交通运输局",
              "building": "区住房和城乡建设局", "municipal": "区住房和城乡建设局", "education": "区教育和体育局",
              "culture_tourism": "区文化和旅游局", "sports": "区教育和体育局", "medical": "区卫生健康局",
              "recycling": "区商务局"}
STAGE_WEIGHTS = {"reserve": 22, "approval": 20, "construction": 30, "completed": 20, "suspended": 5,
                 "cancelled": 3}
# log10 of total investment (万元): a clinic's scanner is not a factory's smart workshop.
MONEY_RANGES = {"industry": (2.5, 4.5), "municipal": (2.5, 4.3), "medical": (2.0, 3.7),
                "agriculture": (1.5, 3.0), "transport": (2.5, 4.0), "building": (1.7, 3.3),
                "education": (1.7, 3.3), "culture_tourism": (2.3, 3.8), "sports": (1.3, 2.7),
                "recycling": (2.3, 4.0)}
PIPELINE_CATEGORIES = ("燃气管网", "供热管网", "供水设施", "污水处理", "排水防涝")

_BRANDS = ("鲁南", "奚仲", "临山", "凤鸣", "泰和", "恒源", "金桥", "华鲁", "宏达", "永兴", "瑞丰", "中兴",
           "鑫源", "新华", "东升", "福瑞", "汇丰", "兴业", "长城", "昌盛")
_TRADES = ("机械", "化工", "建材", "纺织", "食品", "新材料", "电子", "精密铸造", "医药", "装备制造", "包装",
           "能源", "环保科技", "汽车零部件")
_ROADS = ("泰山路", "黄河路", "长江路", "珠江路", "燕山路", "光明大道", "复兴路", "建设路", "人民路",
          "民生路", "临山路", "沿河路")
_VILLAGES = ("前", "后", "东", "西", "南", "北", "大", "小")
_SURNAMES = ("王", "张", "李", "刘", "孙", "周", "赵", "褚", "孟", "颜", "杜", "曹")


@dataclass(frozen=True)
class Town:
    code: str
    name: str
    geometry: BaseGeometry  # EPSG:4326


@dataclass(frozen=True)
class Place:
    """Where the library is made: the district's code and name and its city's short name (for
    owners such as 枣庄…有限公司)."""
    district: str = "370403"
    name: str = "薛城区"
    city: str = "枣庄"


XUECHENG = Place()


def credit_code(rng: random.Random, district: str = XUECHENG.district) -> str:
    """A unified social credit code of a company registered in ``district``, with a valid check char."""
    body = f"91{district}" + "".join(rng.choice(CREDIT_ALPHABET[:10] if i < 2 else CREDIT_ALPHABET)
                                for i in range(9))
    return body + credit_check_char(body)


def project_code(rng: random.Random, year: int, serial: int, district: str = XUECHENG.district) -> str:
    """``TTTT-RRRRRR-DD-PP-NNNNNC``: year, region, department, type, serial digits, check char."""
    return (f"{year}-{district}-{rng.choice((4, 7, 9, 12, 19, 28, 42, 89)):02d}-{rng.choice((1, 2, 3)):02d}-"
            f"{serial:05d}{rng.choice(CHECK_CHARS)}")


def _point_in(rng: random.Random, area: BaseGeometry) -> Point:
    west, south, east, north = area.bounds
    while True:
        point = Point(rng.uniform(west, east), rng.uniform(south, north))
        if area.contains(point):
            return point


def _round(geometry: BaseGeometry) -> BaseGeometry:
    return shapely.set_precision(geometry, 1e-6)


class LibraryMaker:
    """Makes template records one by one from a seeded random generator."""

    def __init__(self, towns: list[Town], seed: int, place: Place = XUECHENG):
        self.rng = random.Random(seed)
        self.place = place
        self.towns = towns
        self.district = shapely.union_all([t.geometry for t in towns])
        # keep points away from town edges so the declared town always agrees with the geometry
        self.cores = {t.code: t.geometry.buffer(-0.004) for t in towns}
        self.serial = self.rng.randrange(10000, 60000)

    def records(self, count: int) -> list[dict]:
        domains = self._spread(DOMAIN_WEIGHTS, count)
        stages = self._spread(STAGE_WEIGHTS, count)
        return [self.record(domain, stage) for domain, stage in zip(domains, stages)]

    def _spread(self, weights: dict[str, int], count: int) -> list[str]:
        """Every key at least once, the rest in proportion, shuffled."""
        total = sum(weights.values())
        items = [key for key, weight in weights.items() for _ in range(max(1, round(count * weight / total)))]
        items = (items + [self.rng.choices(list(weights), list(weights.values()))[0]
                          for _ in range(max(0, count - len(items)))])[:count]
        self.rng.shuffle(items)
        return items

    def record(self, domain: str, stage: str) -> dict:
        rng = self.rng
        town = rng.choice(self.towns)
        category = rng.choice(PIPELINE_CATEGORIES if domain == "municipal" and rng.random() < 0.6
                              else DOMAINS[domain][2])
        geometry, crs = self._geometry(domain, category, town)
        name, owner, quantity, unit = self._names(domain, category, town, geometry)
        total = round(10 ** rng.uniform(*MONEY_RANGES[domain]), -1 if rng.random() < 0.6 else 0)
        year = rng.choice((2023, 2024, 2024, 2025))
        self.serial += rng.randrange(1, 250)  # unique serials, 300 projects span < 10^5
        values = {
            "code": project_code(rng, year, self.serial % 100000, self.place.district), "name": name,
            "domain": DOMAINS[domain][0], "category": category, "owner": owner,
            "credit_code": credit_code(rng, self.place.district) if "有限公司" in owner else None,
            "town": town.name if isinstance(geometry, Point) else None,
            "address": f"{town.name}{rng.choice(_ROADS)}{rng.randrange(1, 300)}号",
            "total_investment": total, "equipment_investment": round(total * rng.uniform(0.4, 0.9)),
            "funding": "；".join(rng.sample([zh for zh, _ in FUNDING_SOURCES.values()], rng.choice((1, 1, 2, 3)))),
            "stage": STAGES[stage][0], "lead_unit": LEAD_UNITS[domain],
            "responsible_units": f"{town.name}；区发展和改革局", "is_key": "是" if rng.random() < 0.15 else "否",
            "quantity": quantity, "unit": unit, "remarks": "演示数据" if rng.random() < 0.1 else None,
            "crs": crs,
        }
        values.update(self._geometry_columns(geometry, crs))
        values.update(self._schedule(stage, year, total))
        return values

    def _geometry(self, domain: str, category: str, town: Town) -> tuple[BaseGeometry, str]:
        rng = self.rng
        if category in PIPELINE_CATEGORIES:
            return self._pipeline(town), "WGS84"
        if domain in ("industry", "recycling", "culture_tourism") and rng.random() < 0.3:
            return self._site(town), "WGS84"
        return _point_in(rng, self.cores[town.code]), ("GCJ02" if rng.random() < 0.15 else "WGS84")

    def _pipeline(self, town: Town) -> BaseGeometry:
        """A pipeline from this town towards a neighbour, kept inside the district."""
        rng = self.rng
        while True:
            start = _point_in(rng, self.cores[town.code])
            other = rng.choice([t for t in self.towns if t.geometry.distance(town.geometry) < 1e-6])
            end = _point_in(rng, self.cores[other.code])
            bend = Point(start.x + (end.x - start.x) * rng.uniform(0.3, 0.7), start.y)
            line = _round(LineString([start, bend, end]))
            if self.district.contains(line) and line.length < 0.12:
                return line

    def _site(self, town: Town) -> Polygon:
        rng = self.rng
        while True:
            center = _point_in(rng, self.cores[town.code])
            w, h = rng.uniform(0.002, 0.008), rng.uniform(0.002, 0.006)
            site = _round(box(center.x - w / 2, center.y - h / 2, center.x + w / 2, center.y + h / 2))
            if self.district.contains(site):
                return site

    def _geometry_columns(self, geometry: BaseGeometry, crs: str) -> dict:
        if not isinstance(geometry, Point):
            return {"wkt": geometry.wkt, "lng": None, "lat": None}
        lng, lat = geometry.x, geometry.y
        if crs == "GCJ02":
            lng, lat = (float(v) for v in wgs84_to_gcj02(lng, lat))
        return {"wkt": None, "lng": round(lng, 6), "lat": round(lat, 6)}

    def _names(self, domain: str, category: str, town: Town, geometry) -> tuple[str, str, object, object]:
        rng, city, district = self.rng, self.place.city, self.place.name
        company = f"{city}{rng.choice(_BRANDS)}{rng.choice(_TRADES)}有限公司"
        village = f"{rng.choice(_VILLAGES)}{rng.choice(_SURNAMES)}庄村"
        place = town.name.removesuffix("街道").removesuffix("镇")
        if domain == "industry":
            return f"{company.removeprefix(city).removesuffix('有限公司')}{category}项目", company, None, None
        if domain == "municipal":
            if isinstance(geometry, LineString):
                return f"{place}{category}更新改造工程", f"{district}城市建设投资有限公司", None, None
            return f"{place}{category}设备更新项目", f"{district}城市管理局", rng.randrange(5, 80), "套"
        if domain == "medical":
            hospital = rng.choice((f"{district}{place}卫生院", f"{district}人民医院", f"{district}中医院", f"{village}卫生室"))
            return f"{hospital}{category}设备更新项目", hospital, rng.randrange(1, 12), "台"
        if domain == "agriculture":
            owner = f"{district}{village}农机专业合作社"
            return f"{village}{category}项目", owner, rng.randrange(3, 40), "台"
        if domain == "transport":
            unit = "个" if category == "充电设施" else "辆"
            return f"{district}{category}更新项目（{place}）", f"{district}公共交通有限公司", rng.randrange(10, 120), unit
        if domain == "building" and category == "工程机械":
            builder = f"{city}{rng.choice(_BRANDS)}建设工程有限公司"
            return f"{builder.removeprefix(city).removesuffix('有限公司')}{category}更新项目", builder, \
                rng.randrange(2, 20), "台"
        if domain == "building":
            estate = f"{place}{rng.choice(('花园', '小区', '新村', '家园'))}"
            return f"{estate}{category}改造项目", f"{estate}业主委员会", rng.randrange(2, 30), "部"
        if domain == "education":
            school = rng.choice((f"{district}{place}中学", f"{district}{place}小学", f"{city}市{district}职业中等专业学校"))
            return f"{school}{category}更新项目", school, rng.randrange(20, 300), "台（套）"
        if domain == "culture_tourism":
            return f"{place}文旅{category}提升项目", f"{city}{rng.choice(_BRANDS)}文化旅游有限公司", None, None
        if domain == "sports":
            office = f"{town.name}办事处" if town.name.endswith("街道") else f"{town.name}人民政府"
            return f"{place}全民{category}更新项目", office, rng.randrange(10, 60), "件"
        return f"{place}{category}项目", f"{city}{rng.choice(_BRANDS)}再生资源有限公司", None, None

    def _schedule(self, stage: str, year: int, total: float) -> dict:
        """Dates and completed investment that respect the stage rules (DESIGN §2)."""
        rng = self.rng
        start = dt.date(year, rng.randrange(1, 13), rng.randrange(1, 29))
        end = start + dt.timedelta(days=rng.randrange(120, 720))
        out = {"planned_start": start.isoformat(), "planned_end": end.isoformat(),
               "actual_start": None, "actual_end": None, "completed_investment": None}
        started = stage in ("construction", "completed") or (stage == "suspended" and rng.random() < 0.5)
        if started:
            actual = start + dt.timedelta(days=rng.randrange(0, 60))
            out["actual_start"] = actual.isoformat()
            out["completed_investment"] = round(total * rng.uniform(0.1, 0.85))
        if stage == "completed":
            out["actual_end"] = (dt.date.fromisoformat(out["actual_start"])
                                 + dt.timedelta(days=rng.randrange(60, 400))).isoformat()
            out["completed_investment"] = total
        return out
