"""Small files in the published Spiking Heidelberg Digits (SHD) HDF5 layout, for the loaders' tests."""
from __future__ import annotations

import numpy as np


def write_shd(path, times, units, labels, time_dtype=np.float16, unit_dtype=np.uint16, label_dtype=np.uint8,
              tonic_extra: bool = False):
    """Variable-length times and units per sample and the labels, in the published dtypes unless told otherwise (the
    validation tests write others); with tonic_extra also the extra/ group tonic reads (the built-in loader ignores
    it)."""
    import h5py

    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(time_dtype))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(unit_dtype))
        for i, (ti, ui) in enumerate(zip(times, units)):
            t[i], u[i] = np.asarray(ti, time_dtype), np.asarray(ui, unit_dtype)
        f.create_dataset("labels", data=np.asarray(labels, label_dtype))
        if tonic_extra:
            f.create_dataset("extra/keys", data=np.array([b"digit"] * 20))
            f.create_dataset("extra/speaker", data=np.zeros(len(labels), np.uint8))
