"""The realistic data set ``init-db --load-test-data`` loads."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .models import Part, PartType, Tag

PART_TYPES = (
    "Relay",
    "Voltage regulator",
    "Microcontroller",
    "Resistor",
    "Capacitor",
    "Connector",
    "Sensor",
    "LED",
    "Transistor",
    "Diode",
    "Crystal",
)

# key, type, description, manufacturer, manufacturer_code, package, pin count, tags
PARTS = (
    (
        "RLAY",
        "Relay",
        "5V SPDT signal relay 10A",
        "Songle",
        "SRD-05VDC-SL-C",
        "THT",
        5,
        ("relay", "5v"),
    ),
    ("RLYB", "Relay", "12V DPDT power relay", "Omron", "G2R-2-DC12", "THT", 8, ("relay", "12v")),
    (
        "VREG",
        "Voltage regulator",
        "3.3V 800mA LDO regulator",
        "Advanced Monolithic Systems",
        "AMS1117-3.3",
        "SOT-223",
        4,
        ("ldo", "3v3"),
    ),
    (
        "LM78",
        "Voltage regulator",
        "5V 1.5A linear regulator",
        "Texas Instruments",
        "LM7805CT",
        "TO-220",
        3,
        ("linear", "5v"),
    ),
    (
        "BUCK",
        "Voltage regulator",
        "3A step-down switching regulator",
        "Texas Instruments",
        "LM2596S-5.0",
        "TO-263",
        5,
        ("buck", "smps"),
    ),
    (
        "ATMG",
        "Microcontroller",
        "8-bit AVR microcontroller 32KB flash",
        "Microchip",
        "ATMEGA328P-PU",
        "DIP-28",
        28,
        ("avr", "mcu"),
    ),
    (
        "ESPW",
        "Microcontroller",
        "Wi-Fi + Bluetooth SoC module",
        "Espressif",
        "ESP32-WROOM-32E",
        "Module",
        38,
        ("wifi", "mcu"),
    ),
    (
        "STMF",
        "Microcontroller",
        "ARM Cortex-M4 MCU 512KB flash",
        "STMicroelectronics",
        "STM32F401RET6",
        "LQFP-64",
        64,
        ("arm", "mcu"),
    ),
    (
        "RTEN",
        "Resistor",
        "10k 1% 0603 thick film resistor",
        "Yageo",
        "RC0603FR-0710KL",
        "0603",
        2,
        ("smd", "resistor"),
    ),
    (
        "RONE",
        "Resistor",
        "1k 1% 0805 resistor",
        "Vishay",
        "CRCW08051K00FKEA",
        "0805",
        2,
        ("smd", "resistor"),
    ),
    (
        "CERA",
        "Capacitor",
        "100nF 50V X7R ceramic capacitor",
        "Murata",
        "GRM188R71H104KA93D",
        "0603",
        2,
        ("decoupling",),
    ),
    (
        "ELKO",
        "Capacitor",
        "470uF 25V electrolytic capacitor",
        "Panasonic",
        "EEU-FR1E471",
        "Radial",
        2,
        ("bulk",),
    ),
    (
        "USBC",
        "Connector",
        "USB Type-C receptacle 16 pin",
        "GCT",
        "USB4105-GF-A",
        "SMD",
        16,
        ("usb",),
    ),
    ("JSTX", "Connector", "JST XH 2.54mm 4 pin header", "JST", "B4B-XH-A", "THT", 4, ("header",)),
    (
        "BMEX",
        "Sensor",
        "Humidity, pressure and temperature sensor",
        "Bosch",
        "BME280",
        "LGA-8",
        8,
        ("i2c", "environment"),
    ),
    (
        "DSTT",
        "Sensor",
        "1-Wire digital temperature sensor",
        "Analog Devices",
        "DS18B20+",
        "TO-92",
        3,
        ("1-wire", "temperature"),
    ),
    ("LEDR", "LED", "Red 5mm LED 20mA", "Kingbright", "L-53SRC-F", "THT 5mm", 2, ("indicator",)),
    (
        "NPNT",
        "Transistor",
        "NPN general purpose transistor 40V",
        "onsemi",
        "2N2222A",
        "TO-92",
        3,
        ("npn",),
    ),
    ("SCHD", "Diode", "40V 1A Schottky diode", "Vishay", "1N5819", "DO-41", 2, ("schottky",)),
    (
        "XTAL",
        "Crystal",
        "16MHz crystal 18pF",
        "Abracon",
        "ABLS-16.000MHZ-B4-T",
        "HC-49/US",
        2,
        ("clock",),
    ),
)


def load_test_data(session: Session) -> None:
    """Insert the part types, tags and parts of the seeded data set."""
    types = {name: PartType(name=name) for name in PART_TYPES}
    session.add_all(types.values())
    tags: dict[str, Tag] = {}
    for key, type_name, description, maker, code, package, pins, tag_names in PARTS:
        part = Part(
            key=key,
            type=types[type_name],
            description=description,
            manufacturer=maker,
            manufacturer_code=code,
            package=package,
            pin_count=pins,
        )
        part.tags = [tags.setdefault(name, Tag(name=name)) for name in tag_names]
        session.add(part)
