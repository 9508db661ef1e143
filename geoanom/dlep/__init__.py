"""geoanom.dlep"""
