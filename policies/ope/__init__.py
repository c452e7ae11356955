"""Off-policy evaluation: what would a policy have earned on traffic another policy routed?"""
from .estimators import DM, DR, IPS, SNIPS, Estimator, OPETerms, SwitchDR, default_estimators
from .evaluate import Estimate, effective_sample_size, evaluate, target_probabilities
from .log import BanditLog, request_rewards
from .obd import CAMPAIGNS, OBDBenchmark, load_obd
from .reward_model import RewardModel

__all__ = [
    "BanditLog", "request_rewards", "Estimator", "OPETerms", "IPS", "SNIPS", "DM", "DR", "SwitchDR",
    "default_estimators", "Estimate", "evaluate", "target_probabilities", "effective_sample_size", "RewardModel",
    "OBDBenchmark", "load_obd", "CAMPAIGNS",
]
