"""Word lists and templates for the RAFT demo data (MSRS Story-QA layout; backend.recipes.raft.demo).
Plain data, no logic.
"""
from __future__ import annotations

# Each story: characters, places and objects (the names that queries ask about), a neutral "home"
# setting for chapters whose event names no place, and one key event per chapter. Gold documents
# for a query are the chapters whose key events name the entity.
STORIES: list[dict] = [
    {
        "title": "The Glass Lighthouse",
        "home": "the keeper's cottage",
        "characters": ["Mara Vell", "Tobin Vell", "Captain Ines Harrow", "Oswin Pike"],
        "places": ["Gull Rock", "Saltmere harbour", "the drowned chapel", "the fog market"],
        "objects": ["the brass lens", "the harbourmaster's ledger", "the silver whistle"],
        "events": [
            "Mara Vell arrives at Gull Rock to take over the lighthouse after the old keeper vanishes, and finds the brass lens cracked.",
            "Tobin Vell follows his sister to Gull Rock against her wishes by hiding aboard the supply boat.",
            "In Saltmere harbour, Oswin Pike shows Mara Vell a chart on which the reef has been redrawn in fresh ink.",
            "Captain Ines Harrow buys lamp oil at the fog market and pays with coins stamped with the crest of a wrecked ship.",
            "Tobin Vell discovers that the harbourmaster's ledger lists ships wrecked on nights when the lamp was supposedly lit.",
            "Mara Vell and Oswin Pike row to the drowned chapel at low tide and find the old keeper's silver whistle in the bell loft.",
            "Captain Ines Harrow visits Gull Rock and offers Mara Vell a fortune to let the light go dark on the night of the spring tide.",
            "Oswin Pike confesses that he altered the charts to pay off a gambling debt he owed at the fog market.",
            "During a storm Tobin Vell blows the silver whistle, and its note makes the brass lens ring and throw a green beam across the sea.",
            "The green beam reveals a smuggling ship creeping toward the reef, and the lifeboat crew from Saltmere harbour intercepts it.",
            "The harbourmaster's ledger is read aloud at the inquest and Captain Ines Harrow is arrested for the wrecks.",
            "Mara Vell repairs the brass lens with glass from the drowned chapel windows and teaches Tobin Vell to keep the light.",
        ],
    },
    {
        "title": "Ash and Orchard",
        "home": "the old farmhouse",
        "characters": ["Rook Calloway", "Wren Adeyemi", "Judge Halvard Crane", "Old Mother Sabine"],
        "places": ["the Emberfield orchards", "the cider mill", "the courthouse at Lyle", "the burned barn"],
        "objects": ["the grafting knife", "the Calloway deed", "the jar of black seeds"],
        "events": [
            "Rook Calloway returns to the Emberfield orchards after his father's death and finds half the trees dying of blight.",
            "Wren Adeyemi, a travelling botanist, takes shelter in the burned barn and offers to study the blight.",
            "Judge Halvard Crane announces at the courthouse at Lyle that the orchards will be sold to settle the Calloway debts.",
            "Old Mother Sabine gives Rook Calloway the jar of black seeds and tells him they come from the first tree ever planted in Emberfield.",
            "Wren Adeyemi teaches Rook Calloway to graft healthy branches with his grandfather's grafting knife.",
            "A night fire at the cider mill destroys the autumn pressing, and footprints lead toward the road to Lyle.",
            "Rook Calloway searches the burned barn and finds the Calloway deed hidden beneath a loose floorboard.",
            "Wren Adeyemi proves that the blight was spread on purpose from infected cuttings bought by Judge Halvard Crane.",
            "Old Mother Sabine testifies that Judge Halvard Crane wanted the land for a railway line.",
            "At the courthouse at Lyle the Calloway deed shows the orchards cannot be sold without the family's consent.",
            "The seeds from the jar of black seeds sprout in the ashes of the cider mill within a single week.",
            "Rook Calloway and Wren Adeyemi replant the Emberfield orchards and hold the first harvest festival in twenty years.",
        ],
    },
    {
        "title": "The Clockmaker's Debt",
        "home": "the lodging house",
        "characters": ["Elias Marrow", "Perpetua Quill", "Nell Fisk", "Inspector Dorian Shaw"],
        "places": ["the shop on Tinker Lane", "the river bridge", "the counting house", "the cathedral bell tower"],
        "objects": ["the handless pocket watch", "the promissory note", "the skeleton key"],
        "events": [
            "Elias Marrow receives a visit at the shop on Tinker Lane from Perpetua Quill, who demands repayment of his late brother's loan.",
            "Nell Fisk, his apprentice, finds the handless pocket watch in a drawer that had been locked for ten years.",
            "Perpetua Quill shows Elias Marrow the promissory note, signed in his own hand, though he has no memory of signing it.",
            "Inspector Dorian Shaw pulls a drowned courier from the river and finds the skeleton key in his coat pocket.",
            "Nell Fisk notices that the handless pocket watch ticks only when it is carried across the river bridge.",
            "Elias Marrow breaks into the counting house at night and finds that the ink of the promissory note is only a month old.",
            "Inspector Dorian Shaw questions Nell Fisk about the drowned courier, who had delivered parcels to Tinker Lane.",
            "The skeleton key opens the clockwork of the cathedral bell tower, where Elias Marrow finds a hidden ledger of forgeries.",
            "Perpetua Quill is revealed to have forged dozens of debts, using a clerk who copied signatures at the counting house.",
            "Nell Fisk repairs the handless pocket watch, and its hidden chamber holds the real letter from Elias Marrow's brother.",
            "Inspector Dorian Shaw arrests Perpetua Quill on the river bridge as she tries to flee the city.",
            "Elias Marrow makes Nell Fisk his partner and they rename the shop on Tinker Lane Marrow and Fisk.",
        ],
    },
    {
        "title": "Station Nine Below",
        "home": "the mess hall",
        "characters": ["Dr. Amara Oduya", "Kasimir Lund", "Juno Reyes", "Commander Bea Sorensen"],
        "places": ["Station Nine", "the drill shaft", "the greenhouse module", "the frozen lake"],
        "objects": ["the core sample", "the radio beacon", "the cracked helmet"],
        "events": [
            "Dr. Amara Oduya arrives at Station Nine to study the ice, just as the last supply flight leaves for the winter.",
            "Kasimir Lund reports strange vibrations in the drill shaft and insists the drilling be stopped.",
            "Commander Bea Sorensen overrules Kasimir Lund and orders the drilling to continue to meet the deadline.",
            "Dr. Amara Oduya finds living bacteria in the core sample, taken from four kilometres below the surface.",
            "Juno Reyes discovers that the radio beacon has been switched off by hand, cutting Station Nine off from the coast.",
            "The plants in the greenhouse module start growing toward the drill shaft instead of the lamps.",
            "Kasimir Lund goes missing, and Juno Reyes finds his cracked helmet on the ice of the frozen lake.",
            "Commander Bea Sorensen admits she switched off the radio beacon to hide the drilling accident from the company.",
            "Dr. Amara Oduya realises the bacteria in the core sample feed on the station's heat and are spreading through the greenhouse module.",
            "Juno Reyes flies through a storm to the frozen lake and rescues Kasimir Lund from a research hut.",
            "Commander Bea Sorensen seals the drill shaft and stays behind to keep the heaters running while the others leave.",
            "Dr. Amara Oduya delivers the core sample and her report to the coast, where a rescue flight sets out for Station Nine.",
        ],
    },
    {
        "title": "The Salt Road Caravan",
        "home": "the night camp",
        "characters": ["Yusuf Benali", "Leyla Tamm", "Orrin Vale", "Pim Castell"],
        "places": ["the oasis of Qarim", "the canyon pass", "the market of Dunmere", "the ruined watchtower"],
        "objects": ["the camel bell", "the salt contract", "the cipher map"],
        "events": [
            "Yusuf Benali signs the salt contract in the market of Dunmere, promising to deliver forty loads before the rains.",
            "Leyla Tamm joins the caravan as navigator and refuses to say why she left her own tribe.",
            "Pim Castell, a young scribe, copies the cipher map from a merchant's tent in the market of Dunmere.",
            "The caravan rests at the oasis of Qarim and finds the wells poisoned with salt.",
            "Orrin Vale and his riders block the canyon pass and demand half the salt as a toll.",
            "Leyla Tamm recognises Orrin Vale as her brother, who was exiled after a feud over water rights.",
            "Pim Castell deciphers the cipher map and finds a hidden route past the ruined watchtower.",
            "Yusuf Benali hangs the camel bell on the lead animal so the caravan can follow it through a sandstorm.",
            "At the ruined watchtower Leyla Tamm and Orrin Vale meet alone and agree to a truce.",
            "Orrin Vale reveals that the salt contract was written to ruin Yusuf Benali, because its merchant owns the poisoned wells.",
            "Pim Castell reads the salt contract aloud to the market of Dunmere, exposing the merchant's fraud.",
            "Yusuf Benali gives the camel bell to Pim Castell, who leads the next caravan through the canyon pass.",
        ],
    },
]

# Filler sentences that pad a chapter to a few hundred words.
# Slots: {char}, {char2}, {place}, {object}, {time_cap}, {weather}, {weather_cap}
CHAPTER_FILLERS: list[str] = [
    "{time_cap}, {weather}, and {place} seemed quieter than anyone could remember.",
    "{char} did not speak for a long while, turning the matter over and over.",
    "\"We cannot go back now,\" {char} said at last, and {char2} nodded slowly.",
    "Nobody in {place} would talk about what had happened the year before.",
    "{char2} kept watch by the door, listening to every sound outside.",
    "{weather_cap}, and the cold found its way through every gap in the walls.",
    "{char} wrote a few lines in a notebook and then crossed most of them out.",
    "There were stories about {object}, though few people believed them anymore.",
    "\"You should have told me sooner,\" {char2} said, without looking up.",
    "{char} thought about the long road that had led here, and about the people left behind.",
    "{time_cap}, the lamps were lit and the smell of smoke hung in the air.",
    "{char2} laughed, but it was not a happy sound.",
    "Someone had been in {place} recently; the dust on the floor had been disturbed.",
    "For a moment {char} felt certain that they were being watched.",
    "The talk turned to money, as it always did, and then to the weather.",
    "{char} remembered a promise made years ago and wondered whether it still counted.",
    "\"Trust me,\" said {char2}. \"Just this once.\"",
    "The wind changed direction, and with it the mood of everyone in {place}.",
    "{char} counted the days left and did not like the answer.",
    "Later, nobody could agree on exactly what had been said.",
    "{char2} had a way of asking questions that made lying feel pointless.",
    "A door slammed somewhere below, and {char} flinched.",
    "The old maps on the wall were yellow at the edges and wrong in a dozen places.",
    "{char} slept badly that night, dreaming of {object}.",
    "In the morning there was bread, weak tea and very little conversation.",
    "{char2} left before dawn without saying where.",
]
# Scene sentences are built as "{Char} {action} {place}, {trail}." for variety between chapters.
SCENE_ACTIONS = ["walked slowly along the edge of", "waited in the shadow of", "stood for a long time looking at",
                 "went back alone to", "hurried past", "sat on the steps outside", "made a careful search of",
                 "listened to the talk of strangers near", "could not stop thinking about", "argued with a stranger outside",
                 "left a message for a friend at", "slipped quietly away from", "came back, soaked and tired, to",
                 "drew a rough sketch of", "asked an old neighbour about", "kept well away from"]
SCENE_TRAILS = ["saying nothing to anyone", "with a heavy heart", "half expecting to be followed", "before the light failed",
                "trying to remember every detail", "and felt no wiser afterwards", "while the others slept",
                "as if nothing had happened", "counting the steps under their breath", "with more questions than answers"]
FILLER_TIMES = ["at dawn", "by midday", "in the late afternoon", "at dusk", "after midnight", "in the grey hour before morning"]
FILLER_WEATHER = ["a thin rain was falling", "the wind was rising", "the air was still and heavy", "frost covered everything",
                  "the sky was clear and hard", "a low fog had rolled in"]

# (query naming the story, SQuALITY-style question) per query kind; {a} and {b} are the names asked about.
RAFT_QUESTIONS: dict[str, tuple[str, str]] = {
    "character": ("What happens to {a} in {title}?", "What happens to {a} throughout the story?"),
    "place": ("What events take place at {a} in {title}?", "What happens at {a}?"),
    "object": ("What is the significance of {a} in {title}?", "What is the significance of {a} in the story?"),
    "pair": ("How do {a} and {b} interact in {title}?", "Describe the relationship between {a} and {b}."),
    "opening": ("How does {title} begin?", "How does the story begin?"),
    "ending": ("How does {title} end?", "How does the story end?"),
}

# Four reference-summary styles per query kind (MSRS ships four human summaries per query).
SUMMARY_LEADS: dict[str, list[str]] = {
    "character": ["In {title}, {focus} is involved in key events.", "{focus_cap} plays an important part in {title}.",
                  "The story follows {focus} through these events.", "Here is what happens to {focus}."],
    "place": ["Part of {title} takes place at {focus}.", "{focus_cap} is where important things happen in {title}.",
              "The story takes the reader to {focus}.", "Events connected to {focus}:"],
    "object": ["{focus_cap} matters to the plot of {title}.", "In {title}, {focus} turns out to be important.",
               "The story gives {focus} a real purpose.", "The role of {focus} in the story:"],
    "pair": ["In {title}, {focus} cross paths.", "The story brings {focus} together.",
             "{focus_cap} meet at important moments.", "Scenes with {focus}:"],
    "opening": ["{title} opens as follows.", "At the start of {title}, the main situation is set up.",
                "The first chapters introduce the conflict.", "The beginning of the story:"],
    "ending": ["{title} ends as follows.", "In its final chapters, {title} resolves the conflict.",
               "The story closes with these events.", "The ending of the story:"],
}
SUMMARY_LINKS = ["First,", "Then", "Later,", "After that,", "Next,"]
