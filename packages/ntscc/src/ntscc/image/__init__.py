"""Image models of NTSCC (Section III-B, IV-C/D): Swin layers, the NTC transform coder and the JSCC codecs."""
