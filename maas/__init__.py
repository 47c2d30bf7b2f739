"""maas: a Mobility-as-a-Service backend — plan, book and board one journey across modes."""

__version__ = "0.1.0"
