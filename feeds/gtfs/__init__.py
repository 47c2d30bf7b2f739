"""The per-file steps of `feeds.compile`, one GTFS concern per module: each takes a parsed
table (a pandas frame of text, or None when the file is absent) and returns numpy arrays
for the Network.

  values        scalars and columns (times, dates, enums, ids, distances)
  agencies      agency.txt and the feed's time zones
  stops         stops.txt
  calendar      calendar.txt + calendar_dates.txt
  stop_times    stop_times.txt (numpy reader, pandas fallback), times filled
  trips         scheduled trips and frequencies.txt runs
  transfers     transfers.txt
  fares         fares v1 and v2 (leg rules)
  translations  translations.txt (stop names)
"""
