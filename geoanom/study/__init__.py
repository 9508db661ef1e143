"""Studies: many stations, years of data, rolling-origin detectors, event-level tests per
station and pooled, multiplicity control, power by injection (``geoanom study``)."""

from geoanom.study.config import StudyConfig, load_study_config, study_from_dict
from geoanom.study.runner import run_study

__all__ = ["StudyConfig", "load_study_config", "study_from_dict", "run_study"]
