"""The offline analyser's bundled catalogue of real parts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogEntry:
    keywords: tuple[str, ...]
    result: dict[str, object]


def _entry(keywords: tuple[str, ...], **fields: object) -> CatalogEntry:
    base: dict[str, object] = dict.fromkeys(
        (
            "description",
            "manufacturer",
            "manufacturer_code",
            "type",
            "dimensions",
            "voltage_rating",
            "mounting_type",
            "package",
            "pin_count",
            "pin_pitch",
            "series",
            "input_voltage",
            "output_voltage",
            "product_page",
        )
    )
    base["tags"] = []
    base.update(fields)
    return CatalogEntry(keywords, base)


CATALOG = (
    _entry(
        ("srd-05vdc", "songle", "relay"),
        description="5V SPDT signal relay, 10A contacts",
        manufacturer="Songle",
        manufacturer_code="SRD-05VDC-SL-C",
        type="Relay",
        dimensions="19 x 15.5 x 15 mm",
        voltage_rating="250VAC / 30VDC",
        mounting_type="Through-hole",
        package="THT",
        pin_count=5,
        pin_pitch="2.54 mm",
        series="SRD",
        input_voltage="5V",
        tags=["relay", "5v", "spdt"],
        product_page="https://www.songlerelay.com/",
    ),
    _entry(
        ("ams1117", "ldo", "3.3v regulator", "3v3 regulator"),
        description="3.3V 1A low dropout linear regulator",
        manufacturer="Advanced Monolithic Systems",
        manufacturer_code="AMS1117-3.3",
        type="Voltage regulator",
        mounting_type="Surface mount",
        package="SOT-223",
        pin_count=4,
        series="AMS1117",
        input_voltage="4.75-15V",
        output_voltage="3.3V",
        tags=["ldo", "3v3", "regulator"],
        product_page="http://www.advanced-monolithic.com/",
    ),
    _entry(
        ("lm7805", "7805"),
        description="5V 1.5A positive linear voltage regulator",
        manufacturer="Texas Instruments",
        manufacturer_code="LM7805CT",
        type="Voltage regulator",
        mounting_type="Through-hole",
        package="TO-220",
        pin_count=3,
        pin_pitch="2.54 mm",
        series="LM78xx",
        input_voltage="7-35V",
        output_voltage="5V",
        tags=["linear", "5v", "regulator"],
        product_page="https://www.ti.com/product/LM7805",
    ),
    _entry(
        ("esp32", "espressif"),
        description="ESP32 Wi-Fi and Bluetooth module, 4MB flash",
        manufacturer="Espressif",
        manufacturer_code="ESP32-WROOM-32E",
        type="Microcontroller",
        dimensions="18 x 25.5 x 3.1 mm",
        mounting_type="Surface mount",
        package="Module",
        pin_count=38,
        pin_pitch="1.27 mm",
        series="ESP32-WROOM",
        input_voltage="3.0-3.6V",
        tags=["wifi", "bluetooth", "mcu"],
        product_page="https://www.espressif.com/en/products/modules",
    ),
    _entry(
        ("rp2040", "raspberry pi pico", "pico"),
        description="Dual-core ARM Cortex-M0+ microcontroller, 264KB SRAM",
        manufacturer="Raspberry Pi",
        manufacturer_code="RP2040",
        type="Microcontroller",
        dimensions="7 x 7 mm",
        mounting_type="Surface mount",
        package="QFN-56",
        pin_count=56,
        pin_pitch="0.4 mm",
        series="RP2",
        input_voltage="1.8-3.3V",
        tags=["arm", "mcu", "usb"],
        product_page="https://www.raspberrypi.com/products/rp2040/",
    ),
    _entry(
        ("atmega328", "arduino uno chip"),
        description="8-bit AVR microcontroller, 32KB flash, DIP-28",
        manufacturer="Microchip",
        manufacturer_code="ATMEGA328P-PU",
        type="Microcontroller",
        mounting_type="Through-hole",
        package="DIP-28",
        pin_count=28,
        pin_pitch="2.54 mm",
        series="megaAVR",
        input_voltage="1.8-5.5V",
        tags=["avr", "mcu"],
        product_page="https://www.microchip.com/en-us/product/ATmega328P",
    ),
    _entry(
        ("bme280",),
        description="Combined humidity, pressure and temperature sensor",
        manufacturer="Bosch",
        manufacturer_code="BME280",
        type="Sensor",
        dimensions="2.5 x 2.5 x 0.93 mm",
        mounting_type="Surface mount",
        package="LGA-8",
        pin_count=8,
        input_voltage="1.71-3.6V",
        tags=["i2c", "spi", "environment"],
        product_page="https://www.bosch-sensortec.com/products/environmental-sensors/",
    ),
    _entry(
        ("ne555", "555 timer"),
        description="Single precision timer",
        manufacturer="Texas Instruments",
        manufacturer_code="NE555P",
        type="Timer",
        mounting_type="Through-hole",
        package="DIP-8",
        pin_count=8,
        pin_pitch="2.54 mm",
        input_voltage="4.5-16V",
        tags=["timer", "oscillator"],
        product_page="https://www.ti.com/product/NE555",
    ),
)


def find(text: str) -> CatalogEntry | None:
    """The first catalogue entry one of whose keywords occurs in ``text``."""
    needle = text.lower()
    for entry in CATALOG:
        if any(keyword in needle for keyword in entry.keywords):
            return entry
    return None
