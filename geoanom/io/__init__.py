"""Readers and writers for the formats geophysicists have: IAGA-2002, ImagCDF, CF netCDF,
and earthquake catalogs."""
