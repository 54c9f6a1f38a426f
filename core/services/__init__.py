"""Application services: one function per business action a surface offers.

Each takes the database, the settings and what the action needs (devices are passed in, so core
imports no driver), runs its writes in one transaction with their audit events and exchange-log
entries, and raises `core.errors.MadoguchiError` subclasses with machine codes. Surfaces call
them and turn the codes into words; they do not do the work themselves.
"""
