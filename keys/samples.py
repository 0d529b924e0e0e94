"""Realistic, clearly synthetic certificate records for Liaoning: demo data, tests and benchmarks.

Numbers follow obviously synthetic patterns (registration 辽A-SY-2024-00456, property record
辽A-T-00123); company names are invented; credit codes carry correct check characters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .identifiers import CRANE_TYPE_CODE, CREDIT_ALPHABET, LicenceId, make_credit_code
from .record import Category


@dataclass(frozen=True)
class City:
    plate: str
    code: str
    name: str
    abbr: str
    authority: str
    districts: tuple[str, ...]


CITIES = (
    City("辽A", "210100", "沈阳", "SY", "沈阳市城乡建设局", ("浑南区", "铁西区", "皇姑区", "于洪区", "沈北新区")),
    City("辽B", "210200", "大连", "DL", "大连市住房和城乡建设局", ("甘井子区", "沙河口区", "金州区", "高新园区")),
    City("辽C", "210300", "鞍山", "AS", "鞍山市住房和城乡建设局", ("铁东区", "铁西区", "立山区", "千山区")),
)

_COMPANIES = ("中建三局集团有限公司", "中国建筑第八工程局有限公司", "辽宁省建设集团有限公司", "沈阳建工集团有限公司",
              "大连金广建设集团有限公司", "鞍钢建设集团有限公司", "中铁九局集团有限公司", "辽宁城建集团有限公司")
_OWNERS = ("沈阳恒达起重设备租赁有限公司", "大连远洋建筑机械有限公司", "鞍山鑫泰机械设备租赁有限公司",
           "辽宁宏图工程机械有限公司")
_INSTALLERS = ("辽宁安泰起重安装工程有限公司", "沈阳华宇建筑机械安装有限公司", "大连正通设备安装有限公司")
_MANUFACTURERS = ("中联重科股份有限公司", "徐工集团工程机械有限公司", "三一重工股份有限公司", "广西建工集团建筑机械制造有限责任公司")
_PROJECTS = ("万科翡翠公园二期", "华润置地中央公园三期", "保利和光尘樾", "地铁六号线车辆段上盖", "中海寰宇天下", "市第一人民医院门诊楼扩建",
             "金地檀府", "龙湖春江天越", "高新区人才公寓", "滨海新城安置房")
_POSITIONS = ("3#楼北侧", "1#楼东南角", "5#楼西侧", "地下车库南侧", "2#楼与3#楼之间", "主楼北侧")
_MODELS = {
    Category.TOWER_CRANE: ("QTZ80(TC6010-6)", "QTZ125(TC6018-10)", "QTZ63(TC5610-6)", "QTZ160(TC6517-10)"),
    Category.CONSTRUCTION_HOIST: ("SC200/200", "SC200/200G", "SC100/100"),
    Category.MATERIAL_HOIST: ("SSD100", "SSD150"),
    Category.GANTRY_CRANE: ("MH10-20A3", "MG20/5-26"),
}
_CATEGORY_LETTER = {Category.TOWER_CRANE: "T", Category.CONSTRUCTION_HOIST: "S",
                    Category.MATERIAL_HOIST: "W", Category.GANTRY_CRANE: "M"}


def credit_code(rng: random.Random, prefix: str = "91") -> str:
    """A synthetic credit code: companies start with 91, government organs with 11."""
    body = prefix + "".join(rng.choice("0123456789") for _ in range(6)) + "".join(
        rng.choice(CREDIT_ALPHABET) for _ in range(9))
    return make_credit_code(body)


def authority_credit_code(city: City) -> str:
    return make_credit_code(f"11{city.code}{'0' * 9}")


def issuer_json(city: City) -> dict[str, Any]:
    return {"code": city.code, "name": city.authority, "credit_code": authority_credit_code(city)}


def sample_record(rng: random.Random, index: int, city: City | None = None,
                  category: Category | None = None, issued_on: date | None = None, paper: bool = False) -> dict[str, Any]:
    """One record as an issuing system would send it (docs/record.schema.json)."""
    city = city or rng.choice(CITIES)
    category = category or rng.choice(list(Category))
    issued_on = issued_on or date(2024, 8, 1) + timedelta(days=rng.randrange(800))
    year = issued_on.year
    issuer = issuer_json(city)
    record = {
        "registration_no": f"{city.plate}-{city.abbr}-{year}-{index:05d}",
        "version": 1,
        "issuer": issuer,
        "issued_on": issued_on.isoformat(),
        "paper": paper,
        "equipment": {
            "category": category.value, "model": rng.choice(_MODELS[category]),
            "record_no": f"{city.plate}-{_CATEGORY_LETTER[category]}-{rng.randrange(1, 99999):05d}",
            "factory_serial": f"{rng.randrange(2012, 2024)}-{rng.randrange(1, 9999):04d}",
            "manufacturer": rng.choice(_MANUFACTURERS),
            "manufactured_on": (issued_on - timedelta(days=rng.randrange(200, 3000))).isoformat(),
        },
        "owner": {"name": rng.choice(_OWNERS), "credit_code": credit_code(rng)},
        "user": {"name": rng.choice(_COMPANIES), "credit_code": credit_code(rng)},
        "installer": {"name": rng.choice(_INSTALLERS), "credit_code": credit_code(rng)},
        "project": {
            "name": f"{city.name}{rng.choice(_PROJECTS)}项目",
            "address": f"辽宁省{city.name}市{rng.choice(city.districts)}{rng.choice(('创新路', '长江街', '星海大道', '建设路'))}"
                       f"{rng.randrange(1, 300)}号",
            "position": rng.choice(_POSITIONS),
        },
        "inspection": {"agency": "辽宁省建设科学研究院有限责任公司检测中心",
                       "report_no": f"LJJ-{year}-{rng.randrange(1, 99999):05d}",
                       "date": (issued_on - timedelta(days=rng.randrange(3, 20))).isoformat()},
        "supervisor": {"name": "辽宁中衡工程监理有限公司", "engineer": rng.choice(("王建国", "李海峰", "张明")),
                       "phone": f"13{rng.randrange(0, 10)}{rng.randrange(10000000, 99999999)}"},
    }
    if not paper:
        record["licence_id"] = str(LicenceId(CRANE_TYPE_CODE, issuer["credit_code"],
                                             f"{year}{index:07d}", 1))
    return record
