"""The pure core: report rules as functions of data. No I/O, no clock, no globals."""
