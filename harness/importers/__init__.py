"""Importers: other tools' judgments turned into normal run directories, and recomputing a run's scores."""
