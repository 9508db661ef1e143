"""geoanom.stats"""
