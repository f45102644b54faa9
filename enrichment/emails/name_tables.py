"""Word lists the name parser needs: titles, surname particles, family names by script.

Kept apart from :mod:`enrichment.emails.names` so that module holds the logic only.
"""

from __future__ import annotations


def _words(text: str) -> list[str]:
    """Space-separated words: keeps long vocabularies readable, a few per line."""
    return text.split()


# Keys are lower-case without dots; values are how we keep them.
HONORIFICS: dict[str, str] = {
    "dr": "Dr",
    "doctor": "Dr",
    "mr": "Mr",
    "mister": "Mr",
    "mrs": "Mrs",
    "ms": "Ms",
    "miss": "Miss",
    "mx": "Mx",
    "prof": "Prof",
    "professor": "Prof",
    "sir": "Sir",
    "dame": "Dame",
    "lord": "Lord",
    "lady": "Lady",
    "rev": "Rev",
    "reverend": "Rev",
    "fr": "Fr",
    "hon": "Hon",
    "herr": "Herr",
    "frau": "Frau",
    "mme": "Mme",
    "mlle": "Mlle",
    "sr": "Sr",  # Spanish señor before a name; after a name "Sr" is the suffix "senior"
    "sra": "Sra",
    "dipl": "Dipl",
    "ing": "Ing",
}
SUFFIXES: dict[str, str] = {
    "jr": "Jr",
    "junior": "Jr",
    "sr": "Sr",
    "senior": "Sr",
    "ii": "II",
    "iii": "III",
    "iv": "IV",
    "phd": "PhD",
    "dphil": "DPhil",
    "md": "MD",
    "mba": "MBA",
    "esq": "Esq",
    "cpa": "CPA",
    "cfa": "CFA",
    "dds": "DDS",
    "jd": "JD",
    "msc": "MSc",
    "bsc": "BSc",
    "obe": "OBE",
    "mbe": "MBE",
    "cbe": "CBE",
    "pmp": "PMP",
    "rn": "RN",
}
# Surname particles. Kept in the joined local form ("vandersar"), dropped in an alternative.
PARTICLES = frozenset(
    _words(
        "van von der den de da di du des del della dei degli le la lo dos das do zu af av "
        "bin binti bint ibn al el ten ter st ste"
    )
)
# Two-character Chinese and Korean family names; everything else is one character.
CHINESE_COMPOUND_SURNAMES = frozenset(
    _words(
        "欧阳 司马 诸葛 上官 皇甫 南宫 夏侯 东方 令狐 慕容 公孙 宇文 长孙 尉迟 司徒 澹台 歐陽 司馬"
    )
)
KOREAN_COMPOUND_SURNAMES = frozenset(_words("남궁 황보 제갈 선우 독고 사공 서문"))
# Korean family names as their bearers spell them in Latin letters; the Revised Romanisation
# that anyascii produces ("gim", "i", "bak") is kept as the transliteration alternative.
KOREAN_SURNAMES: dict[str, str] = {
    "김": "kim",
    "이": "lee",
    "박": "park",
    "최": "choi",
    "정": "jung",
    "강": "kang",
    "조": "cho",
    "윤": "yoon",
    "장": "jang",
    "임": "lim",
    "한": "han",
    "오": "oh",
    "서": "seo",
    "신": "shin",
    "권": "kwon",
    "황": "hwang",
    "안": "ahn",
    "송": "song",
    "류": "ryu",
    "홍": "hong",
    "전": "jeon",
    "고": "ko",
    "문": "moon",
    "손": "son",
    "배": "bae",
    "노": "noh",
    "유": "yoo",
}
# Common Vietnamese family names: with three or more tokens they signal family-first order.
VIETNAMESE_SURNAMES = frozenset(
    _words("nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly dinh trinh")
)
# Letters whose German/Scandinavian transcription differs from anyascii's plain fold.
TRANSCRIPTIONS: dict[str, str] = {
    "ä": "ae",
    "ö": "oe",
    "ü": "ue",
    "ø": "oe",
    "å": "aa",
}
# Common Chinese family names in pinyin and Korean ones as their bearers spell them: people
# with these names are the ones some companies address family name first (wangwei@).
EAST_ASIAN_SURNAMES = frozenset(
    {
        *_words(
            "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo "
            "zheng liang xie song tang han feng deng cao peng zeng xiao tian dong yuan pan cai "
            "jiang yu du ye cheng wei su lyu ding ren shen yao jin fu zhong qiu tan shi fan wan "
            "hou qin gu lei long duan hao kong shao mao chang qian dai xia jia fang meng bai kang "
            "yan yin qiao xiong lu tao mo ou zou xue yi"
        ),
        *KOREAN_SURNAMES.values(),
    }
)
