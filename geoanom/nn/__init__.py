"""geoanom.nn"""
