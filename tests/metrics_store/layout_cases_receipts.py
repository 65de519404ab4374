"""Layout cases of the receipt entities for test_record_layout.py: a record with all fields set
and one with only the required ones, each with the exact item it must encode to. Captured from
the hand-written codecs before they were derived from the dataclasses; they change only when
the layout contract with the user's table (docs/table_layout.md) does."""

from metrics_store.records import (
    Geometry,
    Point,
    Receipt,
    ReceiptLine,
    ReceiptWord,
    ReceiptWordLabel,
)

IMAGE = "3f2b6a1e-0000-4000-8000-000000000001"
TS = "2026-03-01T10:00:00.000001+00:00"
GEO = Geometry(Point(0.25, 0.5625), Point(0.375, 0.5625), Point(0.25, 0.5), Point(0.375, 0.5),
               angle_degrees=0.5, angle_radians=0.25, confidence=0.875)
GEO_MIN = Geometry(Point(0.5, 0.25), Point(0.75, 0.25), Point(0.5, 0.125), Point(0.75, 0.125))

GEOMETRY_ITEM = {
    "bounding_box": {"M": {
        "x": {"N": "0.25"}, "y": {"N": "0.5"}, "width": {"N": "0.125"}, "height": {"N": "0.0625"},
    }},
    "top_left": {"M": {"x": {"N": "0.25"}, "y": {"N": "0.5625"}}},
    "top_right": {"M": {"x": {"N": "0.375"}, "y": {"N": "0.5625"}}},
    "bottom_left": {"M": {"x": {"N": "0.25"}, "y": {"N": "0.5"}}},
    "bottom_right": {"M": {"x": {"N": "0.375"}, "y": {"N": "0.5"}}},
    "angle_degrees": {"N": "0.5"},
    "angle_radians": {"N": "0.25"},
    "confidence": {"N": "0.875"},
}
GEOMETRY_MIN_ITEM = {
    "bounding_box": {"M": {
        "x": {"N": "0.5"}, "y": {"N": "0.125"}, "width": {"N": "0.25"}, "height": {"N": "0.125"},
    }},
    "top_left": {"M": {"x": {"N": "0.5"}, "y": {"N": "0.25"}}},
    "top_right": {"M": {"x": {"N": "0.75"}, "y": {"N": "0.25"}}},
    "bottom_left": {"M": {"x": {"N": "0.5"}, "y": {"N": "0.125"}}},
    "bottom_right": {"M": {"x": {"N": "0.75"}, "y": {"N": "0.125"}}},
    "angle_degrees": {"N": "0"},
    "angle_radians": {"N": "0"},
    "confidence": {"N": "1"},
}
CASES = {
    "receipt_full": (
        Receipt(IMAGE, 1, 864, 1296, TS, merchant_name="Corner Deli"),
        {
            "PK": {"S": f"IMAGE#{IMAGE}"},
            "SK": {"S": "RECEIPT#00001"},
            "TYPE": {"S": "RECEIPT"},
            "GSI2PK": {"S": "RECEIPT"},
            "GSI2SK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001"},
            "GSI4PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001"},
            "GSI4SK": {"S": "0_RECEIPT"},
            "image_id": {"S": IMAGE},
            "receipt_id": {"N": "1"},
            "width": {"N": "864"},
            "height": {"N": "1296"},
            "timestamp_added": {"S": TS},
            "merchant_name": {"S": "Corner Deli"},
        },
    ),
    "receipt_required": (
        Receipt(IMAGE, 2, 10, 20, TS),
        {
            "PK": {"S": f"IMAGE#{IMAGE}"},
            "SK": {"S": "RECEIPT#00002"},
            "TYPE": {"S": "RECEIPT"},
            "GSI2PK": {"S": "RECEIPT"},
            "GSI2SK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002"},
            "GSI4PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002"},
            "GSI4SK": {"S": "0_RECEIPT"},
            "image_id": {"S": IMAGE},
            "receipt_id": {"N": "2"},
            "width": {"N": "10"},
            "height": {"N": "20"},
            "timestamp_added": {"S": TS},
            "merchant_name": {"NULL": True},
        },
    ),
    "line_full": (
        ReceiptLine(IMAGE, 1, 12, "TOTAL 12.50", GEO),
        {
            "PK": {"S": f"IMAGE#{IMAGE}"},
            "SK": {"S": "RECEIPT#00001#LINE#00012"},
            "TYPE": {"S": "RECEIPT_LINE"},
            "GSI3PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001"},
            "GSI3SK": {"S": "LINE"},
            "GSI4PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001"},
            "GSI4SK": {"S": "2_LINE#00012"},
            "text": {"S": "TOTAL 12.50"},
            **GEOMETRY_ITEM,
        },
    ),
    "line_required": (
        ReceiptLine(IMAGE, 2, 1, "", GEO_MIN),
        {
            "PK": {"S": f"IMAGE#{IMAGE}"},
            "SK": {"S": "RECEIPT#00002#LINE#00001"},
            "TYPE": {"S": "RECEIPT_LINE"},
            "GSI3PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002"},
            "GSI3SK": {"S": "LINE"},
            "GSI4PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002"},
            "GSI4SK": {"S": "2_LINE#00001"},
            "text": {"S": ""},
            **GEOMETRY_MIN_ITEM,
        },
    ),
    "word_full": (
        ReceiptWord(IMAGE, 1, 12, 3, "12.50", GEO, is_noise=True,
                    extracted_data={"type": "currency", "value": 12.5}),
        {
            "PK": {"S": f"IMAGE#{IMAGE}"},
            "SK": {"S": "RECEIPT#00001#LINE#00012#WORD#00003"},
            "TYPE": {"S": "RECEIPT_WORD"},
            "GSI2PK": {"S": "RECEIPT"},
            "GSI2SK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001#LINE#00012#WORD#00003"},
            "GSI3PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001"},
            "GSI3SK": {"S": "WORD"},
            "GSI4PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001"},
            "GSI4SK": {"S": "3_WORD#00012#00003"},
            "text": {"S": "12.50"},
            **GEOMETRY_ITEM,
            "is_noise": {"BOOL": True},
            "extracted_data": {"M": {"type": {"S": "currency"}, "value": {"N": "12.5"}}},
        },
    ),
    "word_required": (
        ReceiptWord(IMAGE, 2, 1, 1, "", GEO_MIN),
        {
            "PK": {"S": f"IMAGE#{IMAGE}"},
            "SK": {"S": "RECEIPT#00002#LINE#00001#WORD#00001"},
            "TYPE": {"S": "RECEIPT_WORD"},
            "GSI2PK": {"S": "RECEIPT"},
            "GSI2SK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002#LINE#00001#WORD#00001"},
            "GSI3PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002"},
            "GSI3SK": {"S": "WORD"},
            "GSI4PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002"},
            "GSI4SK": {"S": "3_WORD#00001#00001"},
            "text": {"S": ""},
            **GEOMETRY_MIN_ITEM,
            "is_noise": {"BOOL": False},
            "extracted_data": {"NULL": True},
        },
    ),
    "label_full": (
        ReceiptWordLabel(IMAGE, 1, 12, 3, "GRAND_TOTAL", "VALID", TS, reasoning="bottom line",
                         label_proposed_by="gpt", label_consolidated_from="LINE_TOTAL"),
        {
            "PK": {"S": f"IMAGE#{IMAGE}"},
            "SK": {"S": "RECEIPT#00001#LINE#00012#WORD#00003#LABEL#GRAND_TOTAL"},
            "TYPE": {"S": "RECEIPT_WORD_LABEL"},
            "GSI1PK": {"S": "LABEL#GRAND_TOTAL_______________________"},
            "GSI1SK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001#LINE#00012#WORD#00003"},
            "GSI3PK": {"S": "VALIDATION_STATUS#VALID"},
            "GSI3SK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001#LINE#00012#WORD#00003#LABEL#GRAND_TOTAL"},
            "GSI4PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00001"},
            "GSI4SK": {"S": "4_LABEL#00012#00003#GRAND_TOTAL"},
            "validation_status": {"S": "VALID"},
            "reasoning": {"S": "bottom line"},
            "timestamp_added": {"S": TS},
            "label_proposed_by": {"S": "gpt"},
            "label_consolidated_from": {"S": "LINE_TOTAL"},
        },
    ),
    "label_required": (
        ReceiptWordLabel(IMAGE, 2, 1, 1, "DATE", "NONE", TS),
        {
            "PK": {"S": f"IMAGE#{IMAGE}"},
            "SK": {"S": "RECEIPT#00002#LINE#00001#WORD#00001#LABEL#DATE"},
            "TYPE": {"S": "RECEIPT_WORD_LABEL"},
            "GSI1PK": {"S": "LABEL#DATE______________________________"},
            "GSI1SK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002#LINE#00001#WORD#00001"},
            "GSI3PK": {"S": "VALIDATION_STATUS#NONE"},
            "GSI3SK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002#LINE#00001#WORD#00001#LABEL#DATE"},
            "GSI4PK": {"S": f"IMAGE#{IMAGE}#RECEIPT#00002"},
            "GSI4SK": {"S": "4_LABEL#00001#00001#DATE"},
            "validation_status": {"S": "NONE"},
            "reasoning": {"NULL": True},
            "timestamp_added": {"S": TS},
            "label_proposed_by": {"NULL": True},
            "label_consolidated_from": {"NULL": True},
        },
    ),
}

