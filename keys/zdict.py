"""The preset zlib dictionary of format 1: words that recur in crane certificates.

Deflate can refer back into this text, so a company or site name made of common words costs a few bytes
instead of three per character. It holds generic vocabulary only, never a particular company or site.
The dictionary is part of the format: changing one byte makes a new format version. The most frequent
strings come last, where back-references are shortest.
"""

_WORDS = (
    "门式起重机", "物料提升机", "施工升降机", "塔式起重机", "检验检测", "监理", "租赁", "安装", "制造", "重工", "徐工", "中联",
    "三一", "SSD100", "SSD150", "MH10", "MG20/5", "SC100/100", "SC200/200G", "SC200/200", "QTZ63(TC5610-6)",
    "QTZ125(TC6018-10)", "QTZ160(TC6517-10)", "QTZ80(TC6010-6)", "葫芦岛", "朝阳", "铁岭", "盘锦", "辽阳", "阜新", "营口",
    "锦州", "丹东", "本溪", "抚顺", "高新区", "开发区", "新区", "县", "街道", "大道", "路", "街", "号", "改造", "扩建", "新建",
    "市政", "道路", "桥梁", "隧道", "地铁", "号线", "车辆段", "上盖", "学校", "医院", "门诊楼", "住院楼", "教学楼", "办公楼",
    "厂房", "仓库", "商业", "综合体", "大厦", "广场", "中心", "花园", "小区", "住宅", "公寓", "安置房", "人才", "新城", "公园",
    "置地", "一期", "二期", "三期", "四期", "标段", "地块", "主楼", "裙楼", "地下车库", "东南角", "东北角", "西南角", "西北角",
    "之间", "东侧", "西侧", "南侧", "北侧", "中国建筑", "中铁", "中建", "第一", "第二", "第三", "第八", "工程局",
    "股份有限公司", "有限责任公司", "集团有限公司", "建筑", "机械", "设备", "工程", "建设", "城建", "建工", "住房和城乡建设局",
    "城乡建设局", "鞍山市", "大连市", "沈阳市", "辽宁省", "鞍山", "大连", "沈阳", "辽宁", "-2023-", "-2024-", "-2025-",
    "-2026-", "-T-", "-S-", "-W-", "-M-", "辽C-", "辽B-", "辽A-", "项目", "#楼", "有限公司",
)

ZDICT = "".join(_WORDS).encode("utf-8")
