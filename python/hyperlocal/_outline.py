"""Hand-made, deliberately coarse land outline of England and Wales.

The polygon below was drawn by hand from memory of a few dozen well-known coastal points (headlands,
estuaries, harbour towns) and the Anglo-Scottish border. Coordinates are British National Grid metres
(EPSG:27700): ``(easting, northing)``. It is *not* a real boundary and must never be used for analysis;
it only gives :mod:`hyperlocal.synth` a plausible shape to scatter synthetic areas inside.

Islands (Isle of Wight, Scilly, Man, ...) are left out, Anglesey is joined to the mainland across the
Menai Strait, and the Humber, Thames, Severn, Dee and Wash appear as simple notches. The ring is
listed clockwise, starting at the east end of the Scottish border, and is implicitly closed (the first
vertex is not repeated).
"""

from __future__ import annotations

#: Outline vertices ``(easting, northing)`` in BNG metres, clockwise, implicitly closed.
OUTLINE_BNG: tuple[tuple[float, float], ...] = (
    # North-east coast, heading south.
    (395_000.0, 658_000.0),  # Berwick-upon-Tweed, border on the North Sea
    (418_000.0, 635_000.0),  # Bamburgh
    (437_000.0, 570_000.0),  # Tynemouth
    (452_000.0, 533_000.0),  # Hartlepool
    (461_000.0, 526_000.0),  # Teesmouth
    (490_000.0, 511_000.0),  # Whitby
    (504_000.0, 490_000.0),  # Scarborough
    (525_000.0, 471_000.0),  # Flamborough Head
    (518_000.0, 460_000.0),  # Bridlington Bay
    (541_000.0, 411_000.0),  # Spurn Head
    (505_000.0, 423_000.0),  # Humber, inner estuary
    (527_000.0, 409_000.0),  # Grimsby
    (552_000.0, 377_000.0),  # Mablethorpe
    (557_000.0, 361_000.0),  # Skegness
    (540_000.0, 343_000.0),  # The Wash, west shore
    (549_000.0, 324_000.0),  # The Wash, south shore
    (567_000.0, 341_000.0),  # Hunstanton
    # East Anglia.
    (622_000.0, 343_000.0),  # Cromer
    (653_000.0, 308_000.0),  # Great Yarmouth
    (655_000.0, 293_000.0),  # Lowestoft
    (645_000.0, 250_000.0),  # Orford Ness
    (626_000.0, 222_000.0),  # Walton-on-the-Naze
    (603_000.0, 205_000.0),  # Blackwater estuary
    (600_000.0, 193_000.0),  # Foulness
    (568_000.0, 179_000.0),  # Thames, inner estuary
    (592_000.0, 174_000.0),  # Isle of Sheppey
    # Kent and the south coast, heading west.
    (639_000.0, 170_000.0),  # North Foreland
    (632_000.0, 141_000.0),  # Dover
    (609_000.0, 117_000.0),  # Dungeness
    (559_000.0, 96_000.0),  # Beachy Head
    (485_000.0, 93_000.0),  # Selsey Bill
    (448_000.0, 101_000.0),  # Calshot, mouth of Southampton Water
    (403_000.0, 88_000.0),  # Poole
    (396_000.0, 77_000.0),  # St Aldhelm's Head
    (368_000.0, 70_000.0),  # Portland
    (300_000.0, 80_000.0),  # Exmouth
    (282_000.0, 37_000.0),  # Start Point
    (247_000.0, 51_000.0),  # Plymouth Sound
    (200_000.0, 40_000.0),  # Dodman Point
    (170_000.0, 12_000.0),  # Lizard Point
    (135_000.0, 25_000.0),  # Land's End
    # North coast of Cornwall and Devon, the Bristol Channel and the Severn.
    (152_000.0, 41_000.0),  # St Ives
    (220_000.0, 106_000.0),  # Bude
    (223_000.0, 127_000.0),  # Hartland Point
    (245_000.0, 146_000.0),  # Morte Point
    (297_000.0, 147_000.0),  # Minehead
    (332_000.0, 162_000.0),  # Weston-super-Mare
    (370_000.0, 205_000.0),  # Severn, inner estuary
    (332_000.0, 182_000.0),  # Newport
    (311_000.0, 166_000.0),  # Barry
    # South and west Wales.
    (283_000.0, 176_000.0),  # Porthcawl
    (240_000.0, 186_000.0),  # Worms Head, Gower
    (225_000.0, 206_000.0),  # Carmarthen Bay
    (197_000.0, 193_000.0),  # St Govan's Head
    (180_000.0, 203_000.0),  # St Ann's Head, Milford Haven
    (172_000.0, 227_000.0),  # St David's Head
    (216_000.0, 248_000.0),  # Cardigan
    (258_000.0, 282_000.0),  # Aberystwyth
    (259_000.0, 316_000.0),  # Barmouth
    (257_000.0, 337_000.0),  # Porthmadog
    (215_000.0, 325_000.0),  # Braich y Pwll, tip of Llyn
    (246_000.0, 360_000.0),  # Caernarfon
    (222_000.0, 378_000.0),  # Holy Island, Anglesey
    (230_000.0, 394_000.0),  # Carmel Head
    (264_000.0, 381_000.0),  # Penmon
    # North Wales, Merseyside, Lancashire and Cumbria, heading north.
    (300_000.0, 381_000.0),  # Rhyl
    (312_000.0, 385_000.0),  # Point of Ayr
    (329_000.0, 371_000.0),  # Dee, inner estuary
    (321_000.0, 387_000.0),  # West Kirby
    (330_000.0, 395_000.0),  # New Brighton
    (334_000.0, 418_000.0),  # Southport
    (330_000.0, 437_000.0),  # Blackpool
    (344_000.0, 464_000.0),  # Morecambe
    (318_000.0, 466_000.0),  # Walney Island
    (294_000.0, 513_000.0),  # St Bees Head
    (311_000.0, 553_000.0),  # Silloth
    # Anglo-Scottish border, heading east back to Berwick.
    (333_000.0, 568_000.0),  # Gretna
    (372_000.0, 606_000.0),  # Carter Bar
    (388_000.0, 618_000.0),  # The Cheviot
    (384_000.0, 638_000.0),  # Coldstream
)
