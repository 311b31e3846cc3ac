"""The texts every encoder variant is checked on, on the CPU it runs on, before it is used
(matching/encoder_build.py), and that tests/test_encoder.py measures: goals, short and long
bios, emoji, twelve languages and scripts, one text beyond the 256 word pieces the model reads,
and degenerate texts. The Arabic and Korean sentences are the hardest for int8 models.
"""

from __future__ import annotations

TEXTS = [
    # goals
    "Looking for a running partner for early mornings.",
    "I want to find a mentor in product management.",
    "Hoping to meet people to play board games with on weekends.",
    "Seeking a long-term relationship with someone kind and curious.",
    "Want to practise my Spanish with a native speaker.",
    "Looking for a co-founder for a climate tech startup.",
    "New in town, would love to make some friends!",
    "Mentoring junior developers who want to learn Rust.",
    "Looking for a climbing buddy, bouldering 2-3 times a week.",
    "Friendship first, and we'll see where it goes.",
    # short bios and fragments
    "Nurse. Dog person.",
    "Coffee, books, long walks.",
    "Software engineer 👩\u200d💻",
    "Jazz piano 🎹 and terrible puns",
    "🌱 plant mum, 🚲 commuter, ☕ addict",
    "hi! new here 👋",
    "PhD student in marine biology 🐙",
    "Chef. Ask me about sourdough.",
    "Photographer 📷 | traveller ✈️ | cat mum 🐈",
    "Architect, Lisbon",
    # medium bios
    "I'm a high-school maths teacher who spends summers hiking in the Alps. I love cooking "
    "Italian food for friends and I'm trying (and failing) to learn the guitar.",
    "Former professional footballer, now coaching kids and studying physiotherapy. Looking "
    "for people who enjoy sport but don't take it too seriously.",
    "Data scientist at a health-tech company. I read a lot of science fiction, run half "
    "marathons and volunteer at a food bank on Sundays.",
    "Recently retired after 30 years as a pilot. I'd like to share what I learned with young "
    "people considering aviation, and to find a bridge partner.",
    "Product designer who moved from Seoul to Berlin last year. Into ceramics, techno and "
    "slow mornings with good coffee.",
    "Single dad of two, accountant by day, amateur astronomer by night. I like quiet "
    "evenings, documentaries and the occasional karaoke.",
    "Medical student, vegetarian, obsessed with indie video games and 90s sitcoms.",
    "Yoga teacher and herbalist. I believe in early nights, strong tea and honest talks.",
    "I build furniture from reclaimed wood and sell it at weekend markets.",
    "Backend developer (Python, Go). Contributor to a couple of open-source projects. "
    "Happy to pair on side projects or review your CV.",
    # non-English
    "Me encanta bailar salsa y viajar por Latinoamérica. Busco amigos para ir a conciertos.",
    "J'adore le cinéma français, les randonnées en montagne et les bons fromages.",
    "Ich koche gerne, spiele Fußball am Wochenende und suche neue Freunde in Hamburg.",
    "Adoro ler romances históricos e passear com o meu cão na praia.",
    "Studio ingegneria a Milano, mi piacciono la montagna e la fotografia analogica.",
    "東京在住のエンジニアです。週末はカフェ巡りと写真撮影をしています。",
    "Люблю шахматы, классическую музыку и долгие прогулки по городу.",
    "أحب القراءة والسفر وتعلم لغات جديدة.",
    "저는 서울에서 디자이너로 일하고 있어요. 고양이와 커피를 좋아해요 ☕",
    "Szukam partnera do wspinaczki i wspólnych wyjazdów w Tatry.",
    # long bios (one beyond 256 word pieces, so truncated)
    "I grew up on a farm in rural Ireland and moved to Dublin for university, where I studied "
    "history and then, somewhat unexpectedly, ended up working in cybersecurity. These days I "
    "lead a small team doing incident response, which means the occasional 3 a.m. phone call "
    "but also a lot of interesting puzzles. Outside work I sing in a choir, swim in the sea "
    "all year round (yes, even in January) and am slowly restoring an old sailing boat.",
    "Mentor wanted! I'm a self-taught web developer, two years into my first job at an agency. "
    "I'm comfortable with JavaScript and React but I feel I'm missing fundamentals: data "
    "structures, databases, how to design something bigger than a landing page. I'd love to "
    "meet someone experienced who could meet once or twice a month, look at my code, suggest "
    "books and generally help me figure out what to learn next and how to grow my career.",
    " ".join(
        [
            "I'm a marine engineer who has spent the last decade on offshore wind farms, first "
            "in the North Sea and lately off the coast of Taiwan."
        ]
        * 12
    ),
    "Veterinarian specialising in horses. I ride, obviously, but also paint watercolours, "
    "brew my own beer and I'm the worst (but most enthusiastic) member of a local pub quiz "
    "team. I'm looking for friends nearby who like the outdoors, dogs and a good pint.",
    "Lawyer turned bakery owner: after ten years of contracts I opened a small bakery with my "
    "sister. Early starts, flour everywhere, very happy. Looking for other small-business "
    "owners to swap stories and advice with, and maybe a tennis partner.",
    "Climate researcher, mostly modelling sea ice. Keen cyclist, terrible cook, decent listener.",
    "Musician (cello) in a city orchestra. I teach on the side and love chamber music nights.",
    "Stay-at-home parent getting back into the workforce; interested in UX research.",
    "Firefighter, marathon runner, amateur beekeeper 🐝. Let's grab a coffee!",
    "Retired librarian. Crosswords, gardening, and volunteering at the local museum.",
]


# Degenerate texts: nothing or almost nothing the tokenizer knows (emoji alone become [UNK]).
# Few tokens average out little quantisation error: without the activation smoothing of the
# build these fell to 0.96-0.97 against fp32. Callers skip empty texts.
DEGENERATE = ["", "ok", "hi", "👋", "🌱🚲☕"]

CHECK_TEXTS = (*TEXTS, *DEGENERATE)
