"""Data: import, browse, curate, split, check leakage and export."""
import streamlit as st

from ui.common import pick_version
from ui.data_sections import browse, curate, export, import_data, leakage, split

st.title("🗂️ Data")

import_tab, browse_tab, curate_tab, split_tab, leakage_tab, export_tab = st.tabs(
    ["Import", "Browse", "Curate", "Split", "Leakage", "Export"])

with import_tab:
    import_data()

for tab, key, section in ((browse_tab, "data_browse", browse), (curate_tab, "data_curate", curate),
                          (split_tab, "data_split", split), (leakage_tab, "data_leak", leakage),
                          (export_tab, "data_export", export)):
    with tab:
        dv = pick_version(key)
        if dv:
            section(dv)
