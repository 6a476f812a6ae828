"""ISO 3166-1 alpha-2 country codes as certificate requests accept them.

Pure data.  A certificate's ``C`` (countryName) is two upper-case letters: an officially
assigned ISO 3166-1 alpha-2 code or one of the codes the ISO 3166 Maintenance Agency reserves
exceptionally (``UK`` above all), because file-transfer products accept those too.  Everything
else is refused with a message that names the right code where there is one.
"""

from __future__ import annotations

import enum

from diagnostics.model.errors import TlsdiagError

# The officially assigned codes, each with its alpha-3 code: ``alpha2=alpha3``.
_OFFICIAL_TABLE = """
    AD=AND AE=ARE AF=AFG AG=ATG AI=AIA AL=ALB AM=ARM AO=AGO AQ=ATA AR=ARG AS=ASM AT=AUT AU=AUS
    AW=ABW AX=ALA AZ=AZE BA=BIH BB=BRB BD=BGD BE=BEL BF=BFA BG=BGR BH=BHR BI=BDI BJ=BEN BL=BLM
    BM=BMU BN=BRN BO=BOL BQ=BES BR=BRA BS=BHS BT=BTN BV=BVT BW=BWA BY=BLR BZ=BLZ CA=CAN CC=CCK
    CD=COD CF=CAF CG=COG CH=CHE CI=CIV CK=COK CL=CHL CM=CMR CN=CHN CO=COL CR=CRI CU=CUB CV=CPV
    CW=CUW CX=CXR CY=CYP CZ=CZE DE=DEU DJ=DJI DK=DNK DM=DMA DO=DOM DZ=DZA EC=ECU EE=EST EG=EGY
    EH=ESH ER=ERI ES=ESP ET=ETH FI=FIN FJ=FJI FK=FLK FM=FSM FO=FRO FR=FRA GA=GAB GB=GBR GD=GRD
    GE=GEO GF=GUF GG=GGY GH=GHA GI=GIB GL=GRL GM=GMB GN=GIN GP=GLP GQ=GNQ GR=GRC GS=SGS GT=GTM
    GU=GUM GW=GNB GY=GUY HK=HKG HM=HMD HN=HND HR=HRV HT=HTI HU=HUN ID=IDN IE=IRL IL=ISR IM=IMN
    IN=IND IO=IOT IQ=IRQ IR=IRN IS=ISL IT=ITA JE=JEY JM=JAM JO=JOR JP=JPN KE=KEN KG=KGZ KH=KHM
    KI=KIR KM=COM KN=KNA KP=PRK KR=KOR KW=KWT KY=CYM KZ=KAZ LA=LAO LB=LBN LC=LCA LI=LIE LK=LKA
    LR=LBR LS=LSO LT=LTU LU=LUX LV=LVA LY=LBY MA=MAR MC=MCO MD=MDA ME=MNE MF=MAF MG=MDG MH=MHL
    MK=MKD ML=MLI MM=MMR MN=MNG MO=MAC MP=MNP MQ=MTQ MR=MRT MS=MSR MT=MLT MU=MUS MV=MDV MW=MWI
    MX=MEX MY=MYS MZ=MOZ NA=NAM NC=NCL NE=NER NF=NFK NG=NGA NI=NIC NL=NLD NO=NOR NP=NPL NR=NRU
    NU=NIU NZ=NZL OM=OMN PA=PAN PE=PER PF=PYF PG=PNG PH=PHL PK=PAK PL=POL PM=SPM PN=PCN PR=PRI
    PS=PSE PT=PRT PW=PLW PY=PRY QA=QAT RE=REU RO=ROU RS=SRB RU=RUS RW=RWA SA=SAU SB=SLB SC=SYC
    SD=SDN SE=SWE SG=SGP SH=SHN SI=SVN SJ=SJM SK=SVK SL=SLE SM=SMR SN=SEN SO=SOM SR=SUR SS=SSD
    ST=STP SV=SLV SX=SXM SY=SYR SZ=SWZ TC=TCA TD=TCD TF=ATF TG=TGO TH=THA TJ=TJK TK=TKL TL=TLS
    TM=TKM TN=TUN TO=TON TR=TUR TT=TTO TV=TUV TW=TWN TZ=TZA UA=UKR UG=UGA UM=UMI US=USA UY=URY
    UZ=UZB VA=VAT VC=VCT VE=VEN VG=VGB VI=VIR VN=VNM VU=VUT WF=WLF WS=WSM YE=YEM YT=MYT ZA=ZAF
    ZM=ZMB ZW=ZWE
"""

OFFICIAL: dict[str, str] = dict(
    pair.split("=")
    for pair in _OFFICIAL_TABLE.split()  # alpha-2 -> alpha-3
)
ALPHA3_TO_ALPHA2: dict[str, str] = {alpha3: alpha2 for alpha2, alpha3 in OFFICIAL.items()}

# Reserved "exceptionally" by the ISO 3166 Maintenance Agency: not country codes in the
# strict sense, but partners use them and file-transfer products accept them.
EXCEPTIONALLY_RESERVED: dict[str, str] = {
    "AC": "Ascension Island",
    "CP": "Clipperton Island",
    "CQ": "Island of Sark",
    "DG": "Diego Garcia",
    "EA": "Ceuta, Melilla",
    "EU": "European Union",
    "EZ": "Eurozone",
    "FX": "France, Metropolitan",
    "IC": "Canary Islands",
    "SU": "USSR",
    "TA": "Tristan da Cunha",
    "UK": "United Kingdom",
    "UN": "United Nations",
}

# The officially assigned code that covers the same place, where there is exactly one.
_OFFICIAL_EQUIVALENT = {
    "AC": "SH",
    "DG": "IO",
    "EA": "ES",
    "FX": "FR",
    "IC": "ES",
    "TA": "SH",
    "UK": "GB",
}

ACCEPTED: frozenset[str] = frozenset(OFFICIAL) | frozenset(EXCEPTIONALLY_RESERVED)


def _letters(first: str, last: str) -> set[str]:
    return {chr(c) for c in range(ord(first), ord(last) + 1)}


# ISO 3166-1 leaves these to users; they never denote a country in the standard.
USER_ASSIGNED: frozenset[str] = frozenset(
    {"AA", "ZZ"} | {"Q" + c for c in _letters("M", "Z")} | {"X" + c for c in _letters("A", "Z")}
)


class CountryCodeProblem(enum.StrEnum):
    """Why a text is not an acceptable country code."""

    LOWER_CASE = "lower_case"
    ALPHA3 = "alpha3"
    USER_ASSIGNED = "user_assigned"
    EU_ABBREVIATION = "eu_abbreviation"
    UNASSIGNED = "unassigned"
    NOT_TWO_LETTERS = "not_two_letters"


class CountryCodeError(TlsdiagError, ValueError):
    """A refused country code: what is wrong and, where there is one, the code to use."""

    def __init__(self, text: str, problem: CountryCodeProblem, suggestion: str | None, why: str):
        self.text = text
        self.problem = problem
        self.suggestion = suggestion
        hint = f"; use {suggestion}" if suggestion else ""
        super().__init__(f"country code {text!r}: {why}{hint}")


def check_country(text: str) -> str:
    """``text`` when it is an accepted country code; otherwise a ``CountryCodeError``."""
    if text in ACCEPTED:
        return text
    upper = text.strip().upper()
    if upper in ACCEPTED:
        raise CountryCodeError(
            text,
            CountryCodeProblem.LOWER_CASE,
            upper,
            "country codes are two upper-case letters",
        )
    if len(upper) == 3 and upper.isascii() and upper.isalpha():
        alpha2 = ALPHA3_TO_ALPHA2.get(upper)
        if alpha2 is not None:
            raise CountryCodeError(
                text,
                CountryCodeProblem.ALPHA3,
                alpha2,
                "that is the three-letter (alpha-3) code; certificates take the two-letter one",
            )
        raise CountryCodeError(
            text,
            CountryCodeProblem.NOT_TWO_LETTERS,
            None,
            f"a country code is two letters (ISO 3166-1 alpha-2), and {upper} is not an "
            "alpha-3 code either",
        )
    if len(upper) != 2 or not (upper.isascii() and upper.isalpha()):
        raise CountryCodeError(
            text,
            CountryCodeProblem.NOT_TWO_LETTERS,
            None,
            "a country code is two letters (ISO 3166-1 alpha-2, for example DE or GB)",
        )
    if upper == "EL":
        raise CountryCodeError(
            text,
            CountryCodeProblem.EU_ABBREVIATION,
            "GR",
            "EL is the European Union's abbreviation for Greece, not its ISO 3166-1 code",
        )
    if upper in USER_ASSIGNED:
        kosovo = " (XK is the one used for Kosovo)" if upper == "XK" else ""
        raise CountryCodeError(
            text,
            CountryCodeProblem.USER_ASSIGNED,
            None,
            f"{upper} is a user-assigned code{kosovo}, which ISO 3166-1 never gives to a "
            "country; use the code of the country itself",
        )
    raise CountryCodeError(
        text,
        CountryCodeProblem.UNASSIGNED,
        None,
        f"{upper} is not assigned in ISO 3166-1",
    )


def reserved_note(code: str) -> str | None:
    """For an exceptionally reserved code, what OpenSSL and CAs make of it; else None."""
    place = EXCEPTIONALLY_RESERVED.get(code)
    if place is None:
        return None
    official = _OFFICIAL_EQUIVALENT.get(code)
    expect = official or "an officially assigned code"
    return (
        f"{code} ({place}) is exceptionally reserved, not officially assigned: accepted here, "
        "as file-transfer products accept it, and OpenSSL only checks that C is two "
        f"characters; public CAs follow ISO 3166-1 and expect {expect}."
    )
