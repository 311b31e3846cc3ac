"""The material synthetic people are made of (rapport.seed builds them from it): themes with
their goal phrases, bio sentences, interest tags and areas of expertise; common interests,
jobs, goal and bio templates, names, cities, and the shares of genders and intents."""

from __future__ import annotations

from dataclasses import dataclass

from models import Gender, Intent


@dataclass(frozen=True)
class Theme:
    name: str
    tags: tuple[str, ...]  # rare-ish interests; people of the theme pick a few
    expertise: tuple[str, ...]  # mentorship areas
    goals: tuple[str, ...]  # things to achieve, fitting "I want to ..." and "help someone ..."
    activities: tuple[str, ...]  # things to do together, fitting "... to {activity} with"
    credentials: tuple[str, ...]  # for mentors, fitting "I've ..."
    bio: tuple[str, ...]  # first-person sentences
    mentoring_weight: float = 1.0  # how often mentorship profiles pick this theme


# Data tables: kept compact (one line per several entries), not reformatted.
# fmt: off
THEMES: tuple[Theme, ...] = (
    Theme(
        "marine biology",
        (
            "marine biology", "scuba diving", "coral reefs", "tide pooling", "ocean conservation",
            "freediving",
        ),
        ("marine ecology", "scientific diving", "ocean conservation", "field research"),
        (
            "earn a rescue diver certification", "publish a first paper on coral bleaching",
            "join a reef restoration project", "land a research post at a marine station",
        ),
        ("go tide pooling at dawn", "dive the local wrecks", "volunteer at beach clean-ups"),
        (
            "spent twelve years studying reef ecosystems", "led research dives on three continents",
            "run a marine conservation charity",
        ),
        (
            "I spend most weekends under water, counting reef fish for a citizen-science survey.",
            "I did my master's on seagrass meadows and still get excited about nudibranchs.",
            "Octopuses are smarter than most people I know, and I will explain why at length.",
            "I work at an aquarium and know every moray eel there by name.",
            "My happiest place is a rocky shore at low tide with a field guide in my pocket.",
        ),
    ),
    Theme(
        "jazz piano",
        ("jazz piano", "jazz", "improvisation", "music theory", "jam sessions", "vinyl records"),
        ("jazz harmony", "piano technique", "improvisation", "music theory"),
        (
            "play a full set at an open jam night", "learn to comp behind a singer",
            "transcribe a Bill Evans solo note for note", "record an album of original tunes",
        ),
        (
            "go to late-night jazz clubs", "play four-hands at the piano",
            "dig through record shops for old Blue Note pressings",
        ),
        (
            "played in jazz trios for twenty years", "taught piano at a conservatory",
            "recorded four albums as a sideman",
        ),
        (
            "I practise voicings every morning before work, coffee balanced on the piano.",
            "I fell for jazz the night I heard a trio play Autumn Leaves in a tiny basement bar.",
            "My flat is mostly a piano with some furniture around it.",
            "I play keys in a six-piece band that rehearses in a garage on Thursdays.",
            "Monk taught me that a wrong note can be the right one if you mean it.",
        ),
    ),
    Theme(
        "rock climbing",
        (
            "rock climbing", "bouldering", "sport climbing", "alpinism", "via ferrata",
            "trad climbing",
        ),
        ("climbing technique", "rope work", "alpine safety", "training for climbing"),
        (
            "lead my first 7a route outdoors", "climb a big wall in Yosemite",
            "get comfortable placing trad gear", "summit Mont Blanc",
        ),
        (
            "go bouldering after work", "take weekend trips to the crags",
            "train at the climbing gym twice a week",
        ),
        (
            "guided alpine routes for a decade", "set routes at a climbing gym for eight years",
            "coached a youth climbing team",
        ),
        (
            "You'll find me at the bouldering gym most evenings, chalk on everything.",
            "I learned to climb on sandstone in the Peak District and never looked back.",
            "My car is full of ropes, quickdraws and a crash pad that has seen better days.",
            "I spent last summer climbing my way across the Dolomites.",
            "Climbing taught me to stay calm when my forearms are screaming.",
        ),
    ),
    Theme(
        "startup founding",
        (
            "startups", "entrepreneurship", "venture capital", "product management", "saas",
            "bootstrapping",
        ),
        ("fundraising", "product strategy", "go-to-market", "hiring early teams", "saas"),
        (
            "launch a startup and find the first ten paying customers", "raise a seed round",
            "find a technical co-founder", "grow a bootstrapped business to profitability",
        ),
        (
            "swap pitch decks over coffee", "go to founder meetups",
            "hack on side projects on Sunday afternoons",
        ),
        (
            "founded two startups and sold one", "backed thirty early-stage companies as an angel",
            "scaled a SaaS company from zero to a hundred people",
        ),
        (
            "I left a comfortable job at a bank to build a company that helps farmers sell direct.",
            "I'm on my second startup; the first one taught me everything by failing.",
            "I spend my days talking to customers and my nights rewriting the product roadmap.",
            "I run a small SaaS business from a laptop and a very patient cat.",
            "Ask me about pricing pages; I have opinions.",
        ),
        mentoring_weight=3.0,
    ),
    Theme(
        "urban gardening",
        (
            "urban gardening", "permaculture", "composting", "balcony gardening",
            "community gardens", "seed saving",
        ),
        ("permaculture design", "vegetable growing", "composting", "community organising"),
        (
            "turn a rooftop into a vegetable garden",
            "grow enough tomatoes to skip the shop all summer",
            "start a community garden in the neighbourhood",
            "get a permaculture design certificate",
        ),
        (
            "swap seedlings at the community garden", "build raised beds together",
            "visit allotments and botanical gardens",
        ),
        (
            "run a community garden for fifteen years", "taught permaculture courses",
            "designed edible gardens for schools",
        ),
        (
            "My balcony is a jungle of tomatoes, chillies and herbs I can't stop propagating.",
            "I volunteer at a community garden where we grow food for the local food bank.",
            "I compost everything and will happily talk worms with anyone.",
            "I grew up on a farm and now grow squash in the middle of the city.",
            "Saving seeds from heirloom beans is my quiet obsession.",
        ),
    ),
    Theme(
        "chess",
        ("chess", "chess openings", "blitz chess", "chess tournaments", "puzzles", "go (game)"),
        ("chess strategy", "opening preparation", "endgames", "tournament play"),
        (
            "reach a 2000 rating", "play in an over-the-board tournament abroad",
            "master the endgame fundamentals", "coach a school chess club",
        ),
        ("play blitz in the park", "analyse games over a beer", "go to weekend chess tournaments"),
        (
            "been a FIDE master for ten years", "coached juniors to national titles",
            "run a chess club for twenty years",
        ),
        (
            "I play blitz online every lunch break and regret most of my openings.",
            "I learned chess from my grandfather and still use his wooden set.",
            "My club meets on Tuesday nights in the back room of a pub.",
            "I'm the kind of person who sets up a puzzle on the board before breakfast.",
            "The Sicilian Defence has ruined my sleep schedule.",
        ),
    ),
    Theme(
        "film photography",
        (
            "film photography", "darkroom", "street photography", "medium format", "analog cameras",
            "photo walks",
        ),
        ("film development", "darkroom printing", "street photography", "composition"),
        (
            "develop and print my own colour film", "put on a small photo exhibition",
            "shoot a full project on medium format", "publish a photo zine",
        ),
        (
            "go on photo walks around the old town", "share darkroom time",
            "hunt for old cameras at flea markets",
        ),
        (
            "worked as a photojournalist for fifteen years", "ran a community darkroom",
            "exhibited work in galleries across Europe",
        ),
        (
            "I carry a 1970s rangefinder everywhere and shoot mostly black and white.",
            "I develop film in my bathroom, which my flatmates tolerate with grace.",
            "Street photography taught me to notice the small moments.",
            "I've been documenting the corner shops of my neighbourhood for three years.",
            "Nothing beats watching a print appear in the developer tray.",
        ),
    ),
    Theme(
        "long-distance running",
        ("running", "marathons", "trail running", "ultramarathons", "parkrun", "track workouts"),
        ("marathon training", "running form", "endurance nutrition", "injury prevention"),
        (
            "run a marathon under three and a half hours", "finish a hundred-kilometre ultra",
            "get back to running after an injury", "complete all six world marathon majors",
        ),
        (
            "do long runs on Sunday mornings", "run parkrun and grab breakfast after",
            "explore trails outside the city",
        ),
        (
            "coached a running club for a decade", "run forty marathons",
            "worked as a sports physiotherapist for runners",
        ),
        (
            "I run before sunrise most days and have strong opinions about running shoes.",
            "My first marathon was a disaster and I've been chasing a better one ever since.",
            "I lead the slow group at my local running club, and proudly so.",
            "Trail running is my therapy: mud, hills and no phone signal.",
            "I plan holidays around races, which my friends find hilarious.",
        ),
    ),
    Theme(
        "learning Japanese",
        ("japanese language", "japan", "kanji", "anime", "language exchange", "manga"),
        ("japanese language", "language learning", "jlpt preparation", "translation"),
        (
            "pass the JLPT N2 exam", "read a novel in Japanese without a dictionary",
            "hold a real conversation in Japanese", "spend a year working in Japan",
        ),
        (
            "do a weekly language exchange", "cook Japanese home food together",
            "watch films without subtitles and argue about them",
        ),
        (
            "translated Japanese fiction for ten years", "taught Japanese at university",
            "lived and worked in Tokyo for a decade",
        ),
        (
            "I've been studying Japanese for two years and can finally read a menu in Osaka.",
            "Every morning I do my kanji flashcards on the train.",
            "I fell in love with Japan on a school exchange in Kyoto.",
            "My bookshelf is half manga, half grammar guides.",
            "I'm saving up for a year of living in Japan.",
        ),
    ),
    Theme(
        "woodworking",
        (
            "woodworking", "carpentry", "furniture making", "hand tools", "wood carving",
            "restoring furniture",
        ),
        ("joinery", "furniture design", "hand tools", "workshop safety"),
        (
            "build a dining table with hand-cut joints", "set up a proper home workshop",
            "sell furniture at a craft fair", "restore an old boat",
        ),
        (
            "spend Saturdays in the workshop", "hunt for reclaimed timber",
            "go to craft fairs and furniture markets",
        ),
        (
            "worked as a cabinetmaker for twenty years", "taught joinery classes",
            "run a furniture restoration business",
        ),
        (
            "I make furniture in a shed at the bottom of the garden, mostly from reclaimed oak.",
            "Cutting dovetails by hand is the most relaxing thing I know.",
            "I restore old chairs that people leave on the street.",
            "My hands usually smell of linseed oil and sawdust.",
            "I quit an office job to train as a carpenter and have never been happier.",
        ),
    ),
    Theme(
        "data science",
        (
            "data science", "machine learning", "statistics", "python", "data visualisation",
            "kaggle",
        ),
        ("machine learning", "statistics", "python", "data engineering", "career change into data"),
        (
            "move into a data science job", "ship a machine learning model to production",
            "get good at Bayesian statistics", "win a medal in a Kaggle competition",
        ),
        ("do hackathons together", "go to data meetups", "work on open data projects on weekends"),
        (
            "led data science teams for ten years", "built recommendation systems at scale",
            "taught statistics at university",
        ),
        (
            "I build forecasting models for an energy company and love a messy dataset.",
            "I moved from physics into machine learning and still miss the lab sometimes.",
            "I make charts of everything, including my own sleep.",
            "Python by day, probability puzzles by night.",
            "I teach an evening class on statistics for journalists.",
        ),
        mentoring_weight=3.0,
    ),
    Theme(
        "sourdough baking",
        ("sourdough", "bread baking", "fermentation", "pastry", "baking", "kombucha"),
        ("bread baking", "fermentation", "pastry", "running a bakery"),
        (
            "bake a perfect open-crumb sourdough", "open a small bakery", "master laminated pastry",
            "sell bread at the farmers' market",
        ),
        (
            "bake bread together on Sunday mornings", "swap sourdough starters",
            "visit bakeries in every new city",
        ),
        (
            "ran a bakery for twelve years", "taught bread-making workshops",
            "worked as a pastry chef in restaurants",
        ),
        (
            "My sourdough starter is eight years old and has a name.",
            "I bake bread for my whole street every Saturday.",
            "I went to Paris for a week and came back with a croissant obsession.",
            "Fermenting things in jars is my favourite hobby: kimchi, kombucha, you name it.",
            "I left a job in accounting to bake full time.",
        ),
    ),
    Theme(
        "birdwatching",
        ("birdwatching", "ornithology", "wildlife", "nature walks", "bird photography", "wetlands"),
        ("bird identification", "field ornithology", "wildlife surveys", "nature photography"),
        (
            "see three hundred species in one year", "learn to identify birds by song",
            "take part in a bird ringing project", "photograph a kingfisher",
        ),
        (
            "go birding at dawn on the marshes", "join wildlife walks",
            "visit nature reserves on weekends",
        ),
        (
            "led bird surveys for twenty years", "worked as a nature reserve warden",
            "published field guides on wetland birds",
        ),
        (
            "I keep a notebook of every bird I see and I'm up to 212 species.",
            "My binoculars live by the front door, just in case.",
            "I spend early mornings at the wetlands listening for warblers.",
            "I volunteer counting birds for a national survey.",
            "Spring migration is the best time of year and I will not be argued with.",
        ),
    ),
    Theme(
        "board game design",
        (
            "board game design", "tabletop games", "game mechanics", "playtesting",
            "dungeons & dragons", "card games",
        ),
        ("game design", "playtesting", "publishing board games", "game mechanics"),
        (
            "publish a board game", "run a successful crowdfunding campaign for a game",
            "design a cooperative card game", "run a long Dungeons & Dragons campaign",
        ),
        (
            "playtest prototypes on game nights", "run tabletop campaigns",
            "go to board game conventions",
        ),
        (
            "published six board games", "worked as a game designer at a publisher",
            "ran playtesting groups for years",
        ),
        (
            "I've been designing a board game about beekeeping for two years.",
            "My living room table is permanently covered in cardboard prototypes.",
            "I run a Dungeons & Dragons campaign that is now in its fourth year.",
            "I'll teach you any game in five minutes, rules lawyering included.",
            "Game night is sacred in my house.",
        ),
    ),
    Theme(
        "bike touring",
        ("bike touring", "cycling", "bikepacking", "bike maintenance", "gravel riding", "camping"),
        ("bike touring", "bike maintenance", "route planning", "long-distance cycling"),
        (
            "cycle from coast to coast", "ride the length of Europe",
            "build a touring bike from parts", "do a first solo bikepacking trip",
        ),
        ("go on weekend bike trips", "fix bikes together", "ride gravel roads on Sundays"),
        (
            "cycled across four continents", "run a bike repair co-op",
            "guided cycling tours for ten years",
        ),
        (
            "I cycled from Lisbon to Istanbul last summer with a tent and too much coffee.",
            "I commute by bike all year and own more panniers than shoes.",
            "I volunteer at a bike kitchen teaching people to fix their own bikes.",
            "Give me a gravel road and a bakery stop and I'm happy.",
            "My dream is to ride the Silk Road.",
        ),
    ),
    Theme(
        "pottery",
        ("pottery", "ceramics", "wheel throwing", "glazing", "sculpture", "crafts"),
        ("wheel throwing", "glaze chemistry", "ceramic sculpture", "running a studio"),
        (
            "throw a matching set of dinner plates", "open a small ceramics studio",
            "sell pottery at a craft market", "learn raku firing",
        ),
        ("take evening pottery classes", "share studio time", "visit ceramics fairs"),
        (
            "run a ceramics studio for fifteen years", "taught pottery at an art school",
            "exhibited ceramics internationally",
        ),
        (
            "I spend Thursday nights at the wheel and most of my mugs are lopsided.",
            "Clay under my fingernails is a permanent feature.",
            "I make tableware for a few restaurants in town.",
            "Glaze chemistry is where science meets magic for me.",
            "I took one pottery class to relax and now I have a kiln.",
        ),
    ),
    Theme(
        "astronomy",
        ("astronomy", "astrophotography", "telescopes", "stargazing", "space", "dark sky trips"),
        ("observational astronomy", "astrophotography", "astrophysics", "science outreach"),
        (
            "photograph the Andromeda galaxy", "build my own telescope",
            "see a total solar eclipse", "run stargazing nights for kids",
        ),
        (
            "go stargazing away from city lights", "visit observatories",
            "watch meteor showers on a hill with a thermos",
        ),
        (
            "worked as an astrophysicist for fifteen years",
            "ran an observatory's public programme", "built telescopes for schools",
        ),
        (
            "I drive out of the city on clear nights to photograph nebulae.",
            "I built my first telescope from a kit when I was twelve.",
            "I can name most constellations and the myths behind them.",
            "I volunteer at the planetarium on weekends.",
            "I chase eclipses and have seen three so far.",
        ),
    ),
    Theme(
        "creative writing",
        (
            "creative writing", "fiction writing", "poetry", "writing workshops", "novels",
            "short stories",
        ),
        ("fiction writing", "editing", "publishing", "poetry"),
        (
            "finish the first draft of a novel", "get a short story published",
            "find a literary agent", "perform poetry at an open mic",
        ),
        (
            "write together in cafés", "swap drafts and critique them",
            "go to readings and literary festivals",
        ),
        ("published four novels", "worked as a fiction editor", "taught creative writing"),
        (
            "I'm halfway through a novel about a lighthouse keeper and her sister.",
            "I write every morning from six to seven, before the world wakes up.",
            "I run a small writing group that meets in a bookshop.",
            "I collect overheard conversations for my short stories.",
            "Poetry got me through my twenties.",
        ),
    ),
    Theme(
        "open source software",
        ("open source", "rust", "linux", "programming", "self-hosting", "hackathons"),
        ("software engineering", "open source maintenance", "systems programming", "code review"),
        (
            "become a maintainer of an open source project",
            "land a first patch in the Linux kernel", "get a first job as a software engineer",
            "give a talk at a tech conference",
        ),
        ("hack on side projects together", "go to hackathons", "self-host things nobody asked for"),
        (
            "maintained popular open source libraries for a decade", "worked as a staff engineer",
            "mentored dozens of junior developers",
        ),
        (
            "I maintain a small open source library that more people use than I expected.",
            "My home server runs everything from my calendar to my plant-watering robot.",
            "I write Rust at work and terrible shell scripts at home.",
            "I switched careers from teaching into software at thirty-four.",
            "I spend weekends reviewing pull requests and drinking too much tea.",
        ),
        mentoring_weight=3.0,
    ),
    Theme(
        "yoga and meditation",
        ("yoga", "meditation", "mindfulness", "breathwork", "retreats", "pilates"),
        ("yoga teaching", "meditation practice", "mindfulness", "wellbeing"),
        (
            "complete a yoga teacher training", "sit a ten-day silent retreat",
            "build a daily meditation habit", "teach yoga in the park",
        ),
        ("go to morning yoga classes", "meditate together", "go on a weekend retreat"),
        (
            "taught yoga for fifteen years", "led meditation retreats",
            "worked as a mindfulness coach in hospitals",
        ),
        (
            "I start every day with twenty minutes of meditation and a very strong coffee.",
            "Yoga got me through a burnout and I've practised daily since.",
            "I teach a free yoga class in the park on Sunday mornings.",
            "I did a silent retreat last year and talked non-stop for a week after.",
            "Breathwork is my secret weapon for stressful days.",
        ),
    ),
    Theme(
        "salsa dancing",
        ("salsa", "dancing", "bachata", "latin music", "dance socials", "tango"),
        ("salsa", "partner dancing", "dance teaching", "performance"),
        (
            "dance at a salsa congress", "learn to lead with confidence",
            "join a dance performance team", "teach a beginners' salsa class",
        ),
        ("go to salsa socials", "take dance classes together", "dance at summer festivals"),
        (
            "taught salsa for ten years", "performed at international dance congresses",
            "run a dance school",
        ),
        (
            "I dance salsa three nights a week and my neighbours know it.",
            "I took one bachata class on a dare and now I can't stop.",
            "Latin music makes me happy in a way nothing else does.",
            "I'm the person dragging everyone onto the dance floor at weddings.",
            "I travel to dance festivals whenever I can afford it.",
        ),
    ),
    Theme(
        "home brewing",
        ("home brewing", "craft beer", "cider making", "hops", "breweries", "mead"),
        ("brewing", "recipe design", "fermentation science", "running a brewery"),
        (
            "win a home-brewing competition", "open a small brewery",
            "brew a proper Belgian tripel", "grow my own hops",
        ),
        ("brew a batch together", "visit craft breweries", "go to beer festivals"),
        (
            "run a craft brewery for a decade", "judged national brewing competitions",
            "taught brewing courses",
        ),
        (
            "I brew beer in my kitchen and my flatmates are my very honest tasting panel.",
            "I've got five batches fermenting in the cupboard right now.",
            "I grow hops up the side of my house.",
            "I plan trips around breweries I want to visit.",
            "Cider-making season is my favourite time of year.",
        ),
    ),
    Theme(
        "indie game development",
        ("game development", "indie games", "pixel art", "game jams", "unity", "godot"),
        ("game development", "game design", "pixel art", "shipping games"),
        (
            "release my first game on Steam", "finish a game jam every month for a year",
            "get a job at a game studio", "make a game with my own pixel art",
        ),
        (
            "do game jams together", "play indie games and talk design",
            "go to game developer meetups",
        ),
        (
            "shipped games at studios for fifteen years", "released three indie games",
            "taught game design at university",
        ),
        (
            "I'm building a small puzzle game about a lighthouse in my evenings.",
            "Game jams are my favourite way to spend a weekend.",
            "I draw pixel art on the train to work.",
            "I left a job in banking to make games and I'm broke but happy.",
            "I have strong feelings about level design in old platformers.",
        ),
        mentoring_weight=2.0,
    ),
    Theme(
        "sailing",
        ("sailing", "yachting", "dinghy racing", "navigation", "boats", "kayaking"),
        ("sailing", "navigation", "boat maintenance", "racing tactics"),
        (
            "get a skipper's licence", "sail across the Atlantic", "race in a regatta",
            "buy and restore a small sailboat",
        ),
        ("go sailing on weekends", "crew on races", "kayak along the coast"),
        (
            "sailed across the Atlantic five times", "taught sailing for twenty years",
            "skippered charter yachts",
        ),
        (
            "I grew up on boats and still feel most at home on the water.",
            "I crew on a racing yacht every Wednesday evening.",
            "I'm slowly restoring a 1970s wooden sailboat.",
            "I learned celestial navigation just in case the GPS dies.",
            "My dream is a year of sailing around the Mediterranean.",
        ),
    ),
    Theme(
        "beekeeping",
        ("beekeeping", "bees", "honey", "pollinators", "wildflowers", "rewilding"),
        ("beekeeping", "pollinator conservation", "hive management", "rewilding"),
        (
            "keep my first beehive through winter", "harvest honey from my own hives",
            "turn a field into a wildflower meadow", "start a rooftop apiary",
        ),
        ("visit apiaries", "plant wildflower meadows", "go to honey shows"),
        (
            "kept bees for twenty-five years", "ran beekeeping courses",
            "worked in pollinator conservation",
        ),
        (
            "I keep two beehives on an allotment and they are mostly in charge.",
            "Honey harvest is the stickiest and best weekend of the year.",
            "I'm rewilding the back garden one wildflower at a time.",
            "I can talk about bee dances for longer than anyone wants.",
            "I got into beekeeping during a gap year in New Zealand.",
        ),
    ),
    Theme(
        "personal finance",
        (
            "personal finance", "investing", "index funds", "financial independence", "budgeting",
            "economics",
        ),
        ("personal finance", "investing", "financial planning", "career negotiation"),
        (
            "become debt-free", "build an emergency fund and start investing",
            "reach financial independence by fifty", "negotiate a better salary",
        ),
        (
            "talk about money without awkwardness", "go to finance meetups",
            "read economics books and discuss them",
        ),
        (
            "worked as a financial planner for fifteen years", "managed investment funds",
            "taught personal finance workshops",
        ),
        (
            "I track every expense in a spreadsheet and find it genuinely fun.",
            "I paid off my student loans last year and threw myself a party.",
            "I read economics books on holiday, which says a lot.",
            "I help friends make budgets and they mostly still talk to me.",
            "Index funds and long walks: that's my retirement plan.",
        ),
        mentoring_weight=2.0,
    ),
    Theme(
        "improv comedy",
        ("improv", "stand-up comedy", "theatre", "sketch comedy", "open mics", "acting"),
        ("improv", "stand-up", "public speaking", "comedy writing"),
        (
            "perform a five-minute stand-up set", "join an improv troupe", "get over stage fright",
            "write and perform a sketch show",
        ),
        ("go to comedy open mics", "take improv classes together", "see fringe shows"),
        (
            "performed stand-up for ten years", "taught improv classes",
            "wrote for television comedy",
        ),
        (
            "I do improv on Monday nights and it has made me braver everywhere else.",
            "I've done stand-up at open mics six times and bombed only twice.",
            "'Yes, and' has become my life philosophy.",
            "I write sketches on my phone while waiting for the bus.",
            "I grew up doing school plays and never quite left the stage.",
        ),
    ),
)
THEMES_BY_NAME = {t.name: t for t in THEMES}

# (tag, weight): how likely someone lists it among their everyday interests.
COMMON_INTERESTS: tuple[tuple[str, float], ...] = (
    ("music", 10), ("travel", 10), ("cooking", 8), ("movies", 8), ("hiking", 7), ("reading", 7),
    ("coffee", 6), ("fitness", 6), ("dogs", 5), ("podcasts", 4), ("cats", 4), ("wine", 4),
    ("art", 4), ("concerts", 4), ("board games", 3), ("football", 3), ("tv series", 3),
    ("camping", 3), ("swimming", 3), ("museums", 3), ("gaming", 3), ("volunteering", 2),
    ("fashion", 2), ("the beach", 2), ("history", 2),
)

JOBS = (
    "nurse", "teacher", "software engineer", "architect", "accountant", "graphic designer",
    "civil engineer", "pharmacist", "journalist", "product manager", "electrician", "chef",
    "lawyer", "physiotherapist", "researcher", "social worker", "sales manager", "translator",
    "veterinarian", "bus driver", "librarian", "marketing consultant", "doctor", "barista",
    "student", "project manager", "HR advisor", "paramedic", "data analyst", "firefighter",
)
JOB_SENTENCES = (
    "By day I work as a {job}.",
    "I'm a {job}, which keeps me busy.",
    "Work-wise, I'm a {job} and I mostly like it.",
    "I work as a {job} in {city}.",
    "I've been a {job} for a few years now.",
)
CLOSERS = (
    "Big fan of long breakfasts and terrible puns.",
    "I make a very good lasagne and I'm not modest about it.",
    "Dog person, but cats seem to like me anyway.",
    "I laugh loudly and often.",
    "Always up for a spontaneous road trip.",
    "Friends say I'm a good listener and a bad singer.",
    "I'm happiest with a book, a blanket and rain outside.",
    "Looking for people who are kind and a little bit curious.",
    "I'll always recommend a podcast you didn't ask for.",
    "Sunday markets and slow coffee are my thing.",
    "I try to learn one new thing every month.",
    "Introvert who loves a good dinner party.",
)
DATING_GOALS = (
    "Looking for someone curious enough to {activity} with me.",
    "I'd love to meet a partner who gets why I want to {goal}.",
    "Hoping to find someone to {activity} with, and maybe a lot more.",
    "Looking for a relationship with someone kind who'd {activity} with me now and then.",
    "I'm hoping to meet someone who won't mind that I'm trying to {goal}.",
)
FRIENDSHIP_GOALS = (
    "I'm looking for friends to {activity} with.",
    "I want to {goal} and would love a few friends who are into it too.",
    "Hoping to find a crew to {activity} with on weekends.",
    "New in town and keen to meet people who like to {activity}.",
    "Looking for a buddy to {activity} with and keep each other motivated.",
)
MENTEE_GOALS = (
    "I want to {goal} and would value guidance from someone who has done it.",
    "Looking for a mentor to help me {goal}.",
    "My goal this year is to {goal}; I'd love advice from someone experienced.",
    "I'm trying to {goal} and could use a mentor to keep me honest.",
)
MENTOR_GOALS = (
    "I've {credential} and would like to help someone {goal}.",
    "Happy to mentor anyone who wants to {goal}; I've {credential}.",
    "I've {credential}, and I'd like to give back by helping people {goal}.",
)
SECOND_GOALS = (
    "I also want to {goal}.",
    "Longer term, I'd like to {goal}.",
    "On the side I'm trying to {goal}.",
)

WOMEN = (
    "Amara", "Sofia", "Yuki", "Leila", "Ana", "Maya", "Priya", "Inés", "Freya", "Ama",
    "Emma", "Aisha", "Clara", "Chloé", "Hana", "Zara", "Lea", "Beatriz", "Nora", "Elif", "Sarah",
    "Giulia", "Mei", "Astrid", "Olivia", "Lucía", "Ingrid", "Rosa", "Fatima", "Mia",
)
MEN = (
    "Liam",
    "Mateo",
    "Kenji",
    "Omar",
    "Lucas",
    "Daniel",
    "Arjun",
    "Tomás",
    "Jonas",
    "Kwame",
    "Ethan",
    "Ravi",
    "Felix",
    "Hugo",
    "Samuel",
    "Malik",
    "Leo",
    "Pedro",
    "Finn",
    "Yusuf",
    "David",
    "Marco",
    "Chen",
    "Oskar",
    "Noah",
    "Andrés",
    "Theo",
    "Joseph",
    "Ibrahim",
    "Max",
)
NEUTRAL = (
    "Alex", "Sam", "Robin", "Jordan", "Kai", "River", "Charlie", "Noa", "Ash", "Jules", "Rowan",
    "Sasha", "Quinn", "Eden", "Ari", "Remy", "Sky", "Toni", "Luca", "Avery",
)
SURNAMES = (
    "Kim", "Silva", "Okafor", "Nguyen", "Müller", "García", "Rossi", "Haddad", "Tanaka", "Johnson",
    "Kowalski", "Andersen", "Patel", "Dubois", "O'Brien", "Mensah", "Novak", "Costa", "Fischer",
    "Cohen", "Sato", "Hughes", "Ivanova", "Mbeki", "López", "Larsen", "Chen", "Ali", "Bauer",
    "Moreau",
)


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float
    weight: float


CITIES: tuple[City, ...] = (
    City("London", 51.5074, -0.1278, 6), City("Paris", 48.8566, 2.3522, 5),
    City("Berlin", 52.52, 13.405, 5), City("Madrid", 40.4168, -3.7038, 4),
    City("Lisbon", 38.7223, -9.1393, 3), City("Amsterdam", 52.3676, 4.9041, 3),
    City("Rome", 41.9028, 12.4964, 3), City("Stockholm", 59.3293, 18.0686, 2),
    City("Dublin", 53.3498, -6.2603, 2), City("Warsaw", 52.2297, 21.0122, 3),
    City("Vienna", 48.2082, 16.3738, 2), City("Barcelona", 41.3851, 2.1734, 3),
    City("Manchester", 53.4808, -2.2426, 3), City("Edinburgh", 55.9533, -3.1883, 2),
    City("New York", 40.7128, -74.006, 6), City("San Francisco", 37.7749, -122.4194, 3),
    City("Los Angeles", 34.0522, -118.2437, 4), City("Chicago", 41.8781, -87.6298, 3),
    City("Austin", 30.2672, -97.7431, 2), City("Toronto", 43.6532, -79.3832, 4),
    City("Montreal", 45.5019, -73.5674, 2), City("Mexico City", 19.4326, -99.1332, 4),
    City("São Paulo", -23.5505, -46.6333, 4), City("Buenos Aires", -34.6037, -58.3816, 3),
    City("Tokyo", 35.6762, 139.6503, 4), City("Seoul", 37.5665, 126.978, 3),
    City("Singapore", 1.3521, 103.8198, 2), City("Sydney", -33.8688, 151.2093, 3),
    City("Melbourne", -37.8136, 144.9631, 2), City("Cape Town", -33.9249, 18.4241, 2),
    City("Nairobi", -1.2921, 36.8219, 2), City("Bangalore", 12.9716, 77.5946, 3),
)
# fmt: on

GENDER_SHARES = (
    (Gender.WOMAN, 0.475),
    (Gender.MAN, 0.475),
    (Gender.NON_BINARY, 0.035),
    (Gender.OTHER, 0.015),
)
INTENT_SHARES = ((Intent.DATING, 0.5), (Intent.FRIENDSHIP, 0.3), (Intent.MENTORSHIP, 0.2))
MIN_AGE, MAX_AGE = 18, 70
DISTANCES_KM = (25, 30, 50, 50, 80, 100, 100, 150, 200, 300)
