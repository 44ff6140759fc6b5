"""Data: import, browse, curate, split, check leakage and export."""
import streamlit as st

from ui.common import pick_version
from ui.data_leakage import leakage
from ui.data_sections import DATA_PICKERS, browse, curate, export, import_data, split

st.title(":material/database: Data")

import_tab, browse_tab, curate_tab, split_tab, leakage_tab, export_tab = st.tabs(
    ["Import", "Browse", "Curate", "Split", "Leakage", "Export"])

with import_tab:
    import_data()

for tab, key, section in zip((browse_tab, curate_tab, split_tab, leakage_tab, export_tab), DATA_PICKERS,
                             (browse, curate, split, leakage, export)):
    with tab:
        dv = pick_version(key)
        if dv:
            section(dv)
