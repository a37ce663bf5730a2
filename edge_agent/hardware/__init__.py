"""Cluster hardware behind one narrow interface: an MCU board, a USB relay board, or none."""
