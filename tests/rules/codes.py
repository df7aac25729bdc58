"""Real RxNorm codes (from the OMTK tables) and NDCs (CDC 2018 file) used by the MME tests,
plus a small order builder so each test states only what matters to it."""

from __future__ import annotations

from datetime import date

from rules.timeline import NDC, RXNORM, Amount, Code, Dosage, MedicationOrder, OrderSource

# --- CDC 2022 clinical-table ingredients (ingredient-level RxCUIs) -----------------------
CODEINE_IN = "2670"
FENTANYL_IN = "4337"
HYDROCODONE_IN = "5489"
HYDROMORPHONE_IN = "3423"
METHADONE_IN = "6813"
MORPHINE_IN = "7052"
OXYCODONE_IN = "7804"
OXYMORPHONE_IN = "7814"
TAPENTADOL_IN = "787390"
TRAMADOL_IN = "10689"
BUPRENORPHINE_IN = "1819"

# --- Oral solids (strength per tablet/capsule) --------------------------------------------
CODEINE_30_APAP_300_TAB = "993781"  # Acetaminophen 300 MG / Codeine Phosphate 30 MG Oral Tablet
HYDROCODONE_5_APAP_325_TAB = "857002"  # Acetaminophen 325 MG / Hydrocodone Bitartrate 5 MG
HYDROCODONE_7_5_APAP_750_TAB = "833036"  # Synthea labels this "Captopril 25 MG Oral Tablet"
HYDROMORPHONE_2_TAB = "897696"
METHADONE_10_TAB = "864706"
METHADONE_40_DISPERSIBLE = "864978"  # Tablet for Oral Suspension: labelled only for OUD
MORPHINE_15_TAB = "892582"
MORPHINE_ER_15_TAB = "891881"
OXYCODONE_5_TAB = "1049621"
OXYCODONE_ER_10_TAB = "1049502"  # 12 HR Oxycodone Hydrochloride 10 MG ER Oral Tablet
OXYCODONE_5_CAP = "1049696"
OXYMORPHONE_5_TAB = "977939"
TAPENTADOL_50_TAB = "825411"
TRAMADOL_50_TAB = "835603"

# --- Oral liquids (strength per mL) --------------------------------------------------------
CODEINE_2_4_APAP_SOLN = "993755"  # 2.4 MG/ML
HYDROCODONE_0_5_APAP_SOLN = "856940"  # 0.5 MG/ML
HYDROMORPHONE_1_SOLN = "897657"  # 1 MG/ML
METHADONE_1_SOLN = "864761"  # 1 MG/ML
MORPHINE_4_SOLN = "894780"  # 4 MG/ML
OXYCODONE_1_SOLN = "1049604"  # 1 MG/ML
TAPENTADOL_20_SOLN = "1356315"  # 20 MG/ML
TRAMADOL_5_SOLN = "2395808"  # 5 MG/ML, only in the opioid-mme-r4 v3.0.0 table

# --- Patches, transmucosal and other forms -------------------------------------------------
FENTANYL_12_PATCH = "577057"  # 0.012 MG/HR
FENTANYL_25_PATCH = "245134"
FENTANYL_50_PATCH = "245135"
FENTANYL_75_PATCH = "197696"
FENTANYL_100_PATCH = "245136"
FENTANYL_200_BUCCAL_TAB = "668364"  # Fentanyl 0.2 MG Buccal Tablet
FENTANYL_200_LOZENGE = "310295"
FENTANYL_200_BUCCAL_FILM = "858092"
FENTANYL_100_MUCOSAL_SPRAY = "1237050"  # Subsys, 0.1 MG/ACTUAT
FENTANYL_100_NASAL_SPRAY = "1115573"  # Lazanda, 0.1 MG/ACTUAT
FENTANYL_IONSYS = "1666831"  # iontophoretic 40 mcg per activation
BUTORPHANOL_NASAL = "886634"  # 10 MG/ML nasal spray, 1 MG/ACTUAT
LEVORPHANOL_2_TAB = "197873"
MEPERIDINE_50_TAB = "861467"
PENTAZOCINE_50_TAB = "199789"
DIHYDROCODEINE_10_APAP_TAB = "1234999"
OPIUM_60_SUPP = "312107"
MORPHINE_10_SUPP = "892516"
OXYCODONE_ASPIRIN_TWO_SALTS = "637540"  # 4.5 mg HCl + 0.38 mg terephthalate = 4.88 mg
MORPHINE_10_INJ = "892531"  # Injectable Solution
HYDROMORPHONE_2_INJ = "897745"
PROPOXYPHENE_65_CAP = "849279"

BUPRENORPHINE_2_SL_TAB = "351264"
BUPRENORPHINE_NALOXONE_8_FILM = "1010604"
BUPRENORPHINE_35_PATCH = "388508"  # 72 HR Buprenorphine 0.035 MG/HR Transdermal System

# --- Value-set opioid without strength data; non-opioids ------------------------------------
TRAMADOL_25_TAB_NO_STRENGTH = "2670390"  # in the CDC opioid value set, not in OMTK
LISINOPRIL_10_TAB = "314076"

# --- NDCs (CDC 2018 file) -------------------------------------------------------------------
NDC_DURAGESIC_75 = "16590078405"
NDC_TRAMADOL_50 = "00093005801"
NDC_METHADONE_10 = "00054457125"
NDC_METHADONE_40_DISPERSIBLE = "60687020932"  # Methadose dispersible
NDC_BUPRENORPHINE_2_SL = "00054017613"
NDC_LAZANDA_100 = "13913000901"
NDC_PROPOXYPHENE = "00002035102"


def rx(code: str, display: str | None = None) -> Code:
    return Code(RXNORM, code, display)


def ndc(code: str) -> Code:
    return Code(NDC, code)


def make_order(
    code: str | Code | None,
    dose: float | None = None,
    unit: str | None = "mg",
    per_day: float | None = None,
    *,
    reference: str = "MedicationRequest/1",
    source: OrderSource = OrderSource.REQUEST,
    as_needed: bool = False,
    max_per_day: Amount | None = None,
    interval_days: float | None = None,
    from_text: bool = False,
    start: date | None = None,
    end: date | None = None,
    supply_days: float | None = None,
    quantity: Amount | None = None,
    status: str | None = "active",
    text: str | None = None,
    problem: str | None = None,
    no_dosage: bool = False,
) -> MedicationOrder:
    """An order for ``code`` (an RxCUI string or a Code) taking ``dose unit`` ``per_day`` times."""
    codes: tuple[Code, ...]
    if code is None:
        codes = ()
    elif isinstance(code, Code):
        codes = (code,)
    else:
        codes = (rx(code),)
    dosage = (
        None
        if no_dosage
        else Dosage(
            dose=Amount(dose, unit) if dose is not None else None,
            doses_per_day=per_day,
            as_needed=as_needed,
            max_per_day=max_per_day,
            interval_days=interval_days,
            from_text=from_text,
        )
    )
    return MedicationOrder(
        reference=reference,
        source=source,
        codes=codes,
        text=text,
        status=status,
        start=start,
        end=end,
        supply_days=supply_days,
        quantity=quantity,
        dosage=dosage,
        problem=problem,
    )
