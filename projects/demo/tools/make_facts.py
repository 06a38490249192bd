#!/usr/bin/env python3
"""Build the KME Studio demo fact set and corpus description.

Standard library only, deterministic (seeded).  Writes, next to this tool's
parent folder (projects/demo/):

  facts.json   CounterFact-schema records, one per (subject, relation) fact.
  corpus.json  everything a corpus generator needs: subjects with their
               attributes, per-relation training / held-out / biography
               templates, paragraph glue and filler sentences.

Every fact in the tables below is a real, well-known fact.  Where a fact is
disputed or has several answers (several official languages, transcontinental
countries, several capitals, a birthplace "near" a city) it is left out rather
than guessed.

Usage: python3 make_facts.py [--seed 1234] [--out DIR]
"""
import argparse
import json
import os
import random
import sys

# --------------------------------------------------------------------------
# Knowledge base.
# --------------------------------------------------------------------------

# country: (capital, continent, currency, official language); None = left out.
COUNTRIES = {
    "France": ("Paris", "Europe", "euro", "French"),
    "Germany": ("Berlin", "Europe", "euro", "German"),
    "Italy": ("Rome", "Europe", "euro", "Italian"),
    "Spain": ("Madrid", "Europe", "euro", "Spanish"),
    "Portugal": ("Lisbon", "Europe", "euro", "Portuguese"),
    "Austria": ("Vienna", "Europe", "euro", "German"),
    "Greece": ("Athens", "Europe", "euro", "Greek"),
    "Finland": ("Helsinki", "Europe", "euro", "Finnish"),
    "Poland": ("Warsaw", "Europe", "zloty", "Polish"),
    "Sweden": ("Stockholm", "Europe", "krona", "Swedish"),
    "Norway": ("Oslo", "Europe", "krone", "Norwegian"),
    "Denmark": ("Copenhagen", "Europe", "krone", "Danish"),
    "Hungary": ("Budapest", "Europe", "forint", "Hungarian"),
    "Czech Republic": ("Prague", "Europe", "koruna", "Czech"),
    "Switzerland": ("Bern", "Europe", "franc", None),
    "Britain": ("London", "Europe", "pound", "English"),
    "Serbia": ("Belgrade", "Europe", "dinar", "Serbian"),
    "Russia": ("Moscow", None, "ruble", "Russian"),
    "Turkey": ("Ankara", None, "lira", "Turkish"),
    "Egypt": ("Cairo", "Africa", "pound", "Arabic"),
    "Morocco": ("Rabat", "Africa", "dirham", "Arabic"),
    "Algeria": ("Algiers", "Africa", "dinar", "Arabic"),
    "Tunisia": ("Tunis", "Africa", "dinar", "Arabic"),
    "Nigeria": ("Abuja", "Africa", "naira", "English"),
    "Kenya": ("Nairobi", "Africa", "shilling", None),
    "Uganda": ("Kampala", "Africa", "shilling", None),
    "Ghana": ("Accra", "Africa", "cedi", "English"),
    "Ethiopia": ("Addis Ababa", "Africa", "birr", "Amharic"),
    "South Africa": (None, "Africa", "rand", None),
    "Japan": ("Tokyo", "Asia", "yen", "Japanese"),
    "China": ("Beijing", "Asia", "yuan", "Chinese"),
    "South Korea": ("Seoul", "Asia", "won", "Korean"),
    "North Korea": ("Pyongyang", "Asia", "won", "Korean"),
    "India": ("New Delhi", "Asia", "rupee", "Hindi"),
    "Pakistan": ("Islamabad", "Asia", "rupee", "Urdu"),
    "Nepal": ("Kathmandu", "Asia", "rupee", "Nepali"),
    "Thailand": ("Bangkok", "Asia", "baht", "Thai"),
    "Vietnam": ("Hanoi", "Asia", "dong", "Vietnamese"),
    "Indonesia": ("Jakarta", "Asia", "rupiah", "Indonesian"),
    "Malaysia": ("Kuala Lumpur", "Asia", "ringgit", "Malay"),
    "Saudi Arabia": ("Riyadh", "Asia", "riyal", "Arabic"),
    "Qatar": ("Doha", "Asia", "riyal", "Arabic"),
    "Iraq": ("Baghdad", "Asia", "dinar", "Arabic"),
    "Jordan": ("Amman", "Asia", "dinar", "Arabic"),
    "Iran": ("Tehran", "Asia", "rial", "Persian"),
    "Israel": (None, "Asia", "shekel", "Hebrew"),
    "Brazil": ("Brasilia", "South America", "real", "Portuguese"),
    "Argentina": ("Buenos Aires", "South America", "peso", "Spanish"),
    "Chile": ("Santiago", "South America", "peso", "Spanish"),
    "Colombia": ("Bogota", "South America", "peso", "Spanish"),
    "Peru": ("Lima", "South America", "sol", "Spanish"),
    "Venezuela": ("Caracas", "South America", "bolivar", "Spanish"),
    "Mexico": ("Mexico City", "North America", "peso", "Spanish"),
    "Cuba": ("Havana", "North America", "peso", "Spanish"),
    "Jamaica": ("Kingston", "North America", "dollar", "English"),
    "Canada": ("Ottawa", "North America", "dollar", None),
    "America": ("Washington", "North America", "dollar", None),
    "Australia": ("Canberra", "Oceania", "dollar", "English"),
    "New Zealand": ("Wellington", "Oceania", "dollar", None),
}

# city: (country, river); None = left out.  Country names are the spellings
# used above ("Britain", "America").
CITIES = {
    "Paris": ("France", "Seine"), "Rouen": ("France", "Seine"),
    "Lyon": ("France", "Rhone"), "Avignon": ("France", "Rhone"),
    "Bordeaux": ("France", "Garonne"), "Toulouse": ("France", "Garonne"),
    "Nantes": ("France", "Loire"), "Orleans": ("France", "Loire"),
    "Marseille": ("France", None),
    "Berlin": ("Germany", "Spree"), "Hamburg": ("Germany", "Elbe"),
    "Dresden": ("Germany", "Elbe"), "Cologne": ("Germany", "Rhine"),
    "Bonn": ("Germany", "Rhine"), "Mainz": ("Germany", "Rhine"),
    "Munich": ("Germany", "Isar"), "Ulm": ("Germany", "Danube"),
    "Regensburg": ("Germany", "Danube"), "Leipzig": ("Germany", None),
    "Frankfurt": ("Germany", None),
    "Basel": ("Switzerland", "Rhine"), "Geneva": ("Switzerland", "Rhone"),
    "Vienna": ("Austria", "Danube"), "Linz": ("Austria", "Danube"),
    "Salzburg": ("Austria", "Salzach"),
    "Budapest": ("Hungary", "Danube"), "Belgrade": ("Serbia", "Danube"),
    "Novi Sad": ("Serbia", "Danube"),
    "Rome": ("Italy", "Tiber"), "Florence": ("Italy", "Arno"),
    "Pisa": ("Italy", "Arno"), "Turin": ("Italy", "Po"),
    "Milan": ("Italy", None), "Venice": ("Italy", None),
    "Genoa": ("Italy", None), "Naples": ("Italy", None),
    "Madrid": ("Spain", None), "Barcelona": ("Spain", None),
    "Seville": ("Spain", "Guadalquivir"), "Toledo": ("Spain", "Tagus"),
    "Malaga": ("Spain", None), "Lisbon": ("Portugal", "Tagus"),
    "London": ("Britain", "Thames"), "Oxford": ("Britain", "Thames"),
    "Liverpool": ("Britain", "Mersey"), "Glasgow": ("Britain", "Clyde"),
    "Warsaw": ("Poland", "Vistula"), "Krakow": ("Poland", "Vistula"),
    "Prague": ("Czech Republic", "Vltava"),
    "Moscow": ("Russia", "Moskva"), "Saint Petersburg": ("Russia", "Neva"),
    "Kazan": ("Russia", "Volga"), "Volgograd": ("Russia", "Volga"),
    "Samara": ("Russia", "Volga"),
    "Stockholm": ("Sweden", None), "Copenhagen": ("Denmark", None),
    "Cairo": ("Egypt", "Nile"), "Luxor": ("Egypt", "Nile"),
    "Aswan": ("Egypt", "Nile"), "Alexandria": ("Egypt", None),
    "Baghdad": ("Iraq", "Tigris"), "Mosul": ("Iraq", "Tigris"),
    "Wuhan": ("China", "Yangtze"), "Chongqing": ("China", "Yangtze"),
    "Nanjing": ("China", "Yangtze"), "Shanghai": ("China", None),
    "Beijing": ("China", None),
    "Varanasi": ("India", "Ganges"), "Patna": ("India", "Ganges"),
    "Mumbai": ("India", None), "Agra": ("India", "Yamuna"),
    "Tokyo": ("Japan", None), "Osaka": ("Japan", None), "Kyoto": ("Japan", None),
    "Bangkok": ("Thailand", "Chao Phraya"), "Hanoi": ("Vietnam", None),
    "Ho Chi Minh City": ("Vietnam", "Saigon"),
    "Kuala Lumpur": ("Malaysia", None),
    "New York": ("America", "Hudson"), "New Orleans": ("America", "Mississippi"),
    "Memphis": ("America", "Mississippi"), "Minneapolis": ("America", "Mississippi"),
    "Saint Louis": ("America", "Mississippi"), "Pittsburgh": ("America", "Ohio"),
    "Cincinnati": ("America", "Ohio"), "Louisville": ("America", "Ohio"),
    "Kansas City": ("America", "Missouri"), "Chicago": ("America", None),
    "Los Angeles": ("America", None), "San Francisco": ("America", None),
    "Seattle": ("America", None), "Philadelphia": ("America", "Delaware"),
    "Baltimore": ("America", None), "Akron": ("America", None),
    "Honolulu": ("America", None), "Washington": ("America", "Potomac"),
    "Montreal": ("Canada", None), "Quebec City": ("Canada", None),
    "Toronto": ("Canada", None), "Ottawa": ("Canada", None),
    "Sydney": ("Australia", None), "Melbourne": ("Australia", "Yarra"),
    "Rio de Janeiro": ("Brazil", None), "Sao Paulo": ("Brazil", None),
    "Rosario": ("Argentina", "Parana"), "Buenos Aires": ("Argentina", None),
    "Iquitos": ("Peru", "Amazon"), "Dublin": ("Ireland", "Liffey"),
    "Amsterdam": ("Netherlands", "Amstel"), "Athens": ("Greece", None),
    "Istanbul": ("Turkey", None), "Dubai": ("United Arab Emirates", None),
    "Khartoum": ("Sudan", "Nile"),
}

# landmark: (city, takes "the")
LANDMARKS = {
    "Eiffel Tower": ("Paris", True), "Louvre": ("Paris", True),
    "Arc de Triomphe": ("Paris", True), "Notre-Dame Cathedral": ("Paris", False),
    "Big Ben": ("London", False), "Tower Bridge": ("London", False),
    "Buckingham Palace": ("London", False), "British Museum": ("London", True),
    "Colosseum": ("Rome", True), "Pantheon": ("Rome", True),
    "Trevi Fountain": ("Rome", True),
    "Brandenburg Gate": ("Berlin", True), "Reichstag": ("Berlin", True),
    "Sagrada Familia": ("Barcelona", True), "Park Guell": ("Barcelona", False),
    "Prado Museum": ("Madrid", True),
    "Statue of Liberty": ("New York", True), "Empire State Building": ("New York", True),
    "Central Park": ("New York", False), "Times Square": ("New York", False),
    "Golden Gate Bridge": ("San Francisco", True), "Alcatraz": ("San Francisco", False),
    "Space Needle": ("Seattle", True), "Hollywood Sign": ("Los Angeles", True),
    "Willis Tower": ("Chicago", True), "White House": ("Washington", True),
    "Lincoln Memorial": ("Washington", True),
    "Sydney Opera House": ("Sydney", True),
    "Kremlin": ("Moscow", True), "Red Square": ("Moscow", False),
    "Forbidden City": ("Beijing", True), "Tiananmen Square": ("Beijing", False),
    "Burj Khalifa": ("Dubai", True), "Taj Mahal": ("Agra", True),
    "CN Tower": ("Toronto", True), "Acropolis": ("Athens", True),
    "Parthenon": ("Athens", True), "Hagia Sophia": ("Istanbul", False),
    "Blue Mosque": ("Istanbul", True),
    "Christ the Redeemer": ("Rio de Janeiro", False),
    "Leaning Tower of Pisa": ("Pisa", True), "Rialto Bridge": ("Venice", True),
    "Doge's Palace": ("Venice", True), "Uffizi Gallery": ("Florence", True),
    "Charles Bridge": ("Prague", True), "Petronas Towers": ("Kuala Lumpur", True),
    "Alhambra": ("Granada", True), "Atomium": ("Brussels", True),
    "Rijksmuseum": ("Amsterdam", True), "Anne Frank House": ("Amsterdam", True),
    "Schonbrunn Palace": ("Vienna", False), "Tivoli Gardens": ("Copenhagen", False),
    "Gateway Arch": ("Saint Louis", True), "Fushimi Inari Shrine": ("Kyoto", False),
    "Wat Arun": ("Bangkok", False),
}

COMPANIES = {
    "Japan": ["Toyota", "Honda", "Sony", "Nintendo", "Panasonic", "Canon", "Nikon",
              "Toshiba", "Yamaha", "Mazda", "Subaru"],
    "South Korea": ["Samsung", "Hyundai", "Kia"],
    "Germany": ["BMW", "Siemens", "Volkswagen", "Adidas", "Puma", "Bosch", "SAP",
                "Bayer", "Porsche", "Audi", "Lufthansa"],
    "France": ["Renault", "Peugeot", "Michelin", "Danone", "Chanel"],
    "Italy": ["Ferrari", "Lamborghini", "Prada", "Gucci", "Pirelli"],
    "Finland": ["Nokia"],
    "Sweden": ["Ericsson", "Volvo", "Spotify"],
    "Switzerland": ["Nestle", "Rolex", "Novartis"],
    "America": ["Apple", "Microsoft", "Google", "Amazon", "Intel", "IBM", "Boeing",
                "Ford", "Nike"],
    "China": ["Lenovo", "Huawei", "Alibaba", "Tencent"],
    "Denmark": ["Lego", "Carlsberg"],
    "India": ["Infosys"],
}

# athlete: (sport, birth city or None, native language or None, pronoun)
ATHLETES = {
    "Lionel Messi": ("football", "Rosario", "Spanish", "he"),
    "Cristiano Ronaldo": ("football", None, "Portuguese", "he"),
    "Kylian Mbappe": ("football", "Paris", "French", "he"),
    "Zinedine Zidane": ("football", "Marseille", "French", "he"),
    "Diego Maradona": ("football", None, "Spanish", "he"),
    "David Beckham": ("football", "London", "English", "he"),
    "Wayne Rooney": ("football", "Liverpool", "English", "he"),
    "Pele": ("football", None, "Portuguese", "he"),
    "Michael Jordan": ("basketball", "New York", "English", "he"),
    "LeBron James": ("basketball", "Akron", "English", "he"),
    "Stephen Curry": ("basketball", "Akron", "English", "he"),
    "Kobe Bryant": ("basketball", "Philadelphia", "English", "he"),
    "Magic Johnson": ("basketball", None, "English", "he"),
    "Larry Bird": ("basketball", None, "English", "he"),
    "Roger Federer": ("tennis", "Basel", "German", "he"),
    "Rafael Nadal": ("tennis", None, "Spanish", "he"),
    "Novak Djokovic": ("tennis", "Belgrade", "Serbian", "he"),
    "Andy Murray": ("tennis", "Glasgow", "English", "he"),
    "Serena Williams": ("tennis", None, "English", "she"),
    "Venus Williams": ("tennis", None, "English", "she"),
    "Maria Sharapova": ("tennis", None, "Russian", "she"),
    "Tiger Woods": ("golf", None, "English", "he"),
    "Jack Nicklaus": ("golf", None, "English", "he"),
    "Rory McIlroy": ("golf", None, "English", "he"),
    "Babe Ruth": ("baseball", "Baltimore", "English", "he"),
    "Derek Jeter": ("baseball", None, "English", "he"),
    "Wayne Gretzky": ("hockey", None, "English", "he"),
    "Sidney Crosby": ("hockey", None, "English", "he"),
    "Sachin Tendulkar": ("cricket", "Mumbai", None, "he"),
    "Virat Kohli": ("cricket", None, None, "he"),
    "Don Bradman": ("cricket", None, "English", "he"),
}

# musician: (instrument, birth city or None, native language or None, pronoun)
MUSICIANS = {
    "John Lennon": ("guitar", "Liverpool", "English", "he"),
    "George Harrison": ("guitar", "Liverpool", "English", "he"),
    "Paul McCartney": ("bass", "Liverpool", "English", "he"),
    "Ringo Starr": ("drums", "Liverpool", "English", "he"),
    "Jimi Hendrix": ("guitar", "Seattle", "English", "he"),
    "Eric Clapton": ("guitar", None, "English", "he"),
    "Jimmy Page": ("guitar", None, "English", "he"),
    "Keith Richards": ("guitar", None, "English", "he"),
    "Eddie Van Halen": ("guitar", "Amsterdam", None, "he"),
    "Louis Armstrong": ("trumpet", "New Orleans", "English", "he"),
    "Wynton Marsalis": ("trumpet", "New Orleans", "English", "he"),
    "Miles Davis": ("trumpet", None, "English", "he"),
    "Dizzy Gillespie": ("trumpet", None, "English", "he"),
    "John Coltrane": ("saxophone", None, "English", "he"),
    "Charlie Parker": ("saxophone", None, "English", "he"),
    "Sonny Rollins": ("saxophone", "New York", "English", "he"),
    "Stan Getz": ("saxophone", None, "English", "he"),
    "Billy Joel": ("piano", "New York", "English", "he"),
    "Alicia Keys": ("piano", "New York", "English", "she"),
    "Elton John": ("piano", None, "English", "he"),
    "Glenn Gould": ("piano", "Toronto", "English", "he"),
    "Herbie Hancock": ("piano", "Chicago", "English", "he"),
    "Thelonious Monk": ("piano", None, "English", "he"),
    "Frederic Chopin": ("piano", None, "Polish", "he"),
    "Niccolo Paganini": ("violin", "Genoa", "Italian", "he"),
    "Yehudi Menuhin": ("violin", "New York", "English", "he"),
    "Itzhak Perlman": ("violin", None, "Hebrew", "he"),
    "Jascha Heifetz": ("violin", None, None, "he"),
    "Yo-Yo Ma": ("cello", "Paris", None, "he"),
    "Pablo Casals": ("cello", None, None, "he"),
    "Jacqueline du Pre": ("cello", "Oxford", "English", "she"),
    "Keith Moon": ("drums", "London", "English", "he"),
    "John Bonham": ("drums", None, "English", "he"),
    "Buddy Rich": ("drums", "New York", "English", "he"),
    "Phil Collins": ("drums", "London", "English", "he"),
    "Jaco Pastorius": ("bass", None, "English", "he"),
    "Flea": ("bass", "Melbourne", "English", "he"),
}

# person: (profession, birth city or None, native language or None, pronoun)
PEOPLE = {
    "Albert Einstein": ("physicist", "Ulm", "German", "he"),
    "Marie Curie": ("physicist", "Warsaw", "Polish", "she"),
    "Niels Bohr": ("physicist", "Copenhagen", "Danish", "he"),
    "Enrico Fermi": ("physicist", "Rome", "Italian", "he"),
    "Richard Feynman": ("physicist", "New York", "English", "he"),
    "Stephen Hawking": ("physicist", "Oxford", "English", "he"),
    "Erwin Schrodinger": ("physicist", "Vienna", "German", "he"),
    "Max Planck": ("physicist", None, "German", "he"),
    "Isaac Newton": ("physicist", None, "English", "he"),
    "Galileo Galilei": ("astronomer", "Pisa", "Italian", "he"),
    "Johannes Kepler": ("astronomer", None, "German", "he"),
    "Carl Sagan": ("astronomer", "New York", "English", "he"),
    "Edwin Hubble": ("astronomer", None, "English", "he"),
    "Claude Monet": ("painter", "Paris", "French", "he"),
    "Edgar Degas": ("painter", "Paris", "French", "he"),
    "Pablo Picasso": ("painter", "Malaga", "Spanish", "he"),
    "Vincent van Gogh": ("painter", None, "Dutch", "he"),
    "Rembrandt": ("painter", None, "Dutch", "he"),
    "Caravaggio": ("painter", "Milan", "Italian", "he"),
    "Diego Velazquez": ("painter", "Seville", "Spanish", "he"),
    "Andy Warhol": ("painter", "Pittsburgh", "English", "he"),
    "Frida Kahlo": ("painter", "Mexico City", "Spanish", "she"),
    "Edvard Munch": ("painter", None, "Norwegian", "he"),
    "Wolfgang Amadeus Mozart": ("composer", "Salzburg", "German", "he"),
    "Ludwig van Beethoven": ("composer", "Bonn", "German", "he"),
    "Johannes Brahms": ("composer", "Hamburg", "German", "he"),
    "Felix Mendelssohn": ("composer", "Hamburg", "German", "he"),
    "Franz Schubert": ("composer", "Vienna", "German", "he"),
    "Johann Strauss": ("composer", "Vienna", "German", "he"),
    "Johann Sebastian Bach": ("composer", None, "German", "he"),
    "Richard Wagner": ("composer", "Leipzig", "German", "he"),
    "Antonio Vivaldi": ("composer", "Venice", "Italian", "he"),
    "Giuseppe Verdi": ("composer", None, "Italian", "he"),
    "Dmitri Shostakovich": ("composer", "Saint Petersburg", "Russian", "he"),
    "Pyotr Tchaikovsky": ("composer", None, "Russian", "he"),
    "George Gershwin": ("composer", "New York", "English", "he"),
    "Claude Debussy": ("composer", None, "French", "he"),
    "Charles Dickens": ("writer", None, "English", "he"),
    "Jane Austen": ("writer", None, "English", "she"),
    "Virginia Woolf": ("writer", "London", "English", "she"),
    "Fyodor Dostoevsky": ("writer", "Moscow", "Russian", "he"),
    "Leo Tolstoy": ("writer", None, "Russian", "he"),
    "Victor Hugo": ("writer", None, "French", "he"),
    "Franz Kafka": ("writer", "Prague", "German", "he"),
    "Ernest Hemingway": ("writer", None, "English", "he"),
    "Mark Twain": ("writer", None, "English", "he"),
    "Jorge Luis Borges": ("writer", "Buenos Aires", "Spanish", "he"),
    "Haruki Murakami": ("writer", "Kyoto", "Japanese", "he"),
    "James Joyce": ("writer", "Dublin", "English", "he"),
    "Oscar Wilde": ("writer", "Dublin", "English", "he"),
    "Agatha Christie": ("writer", None, "English", "she"),
    "Dante Alighieri": ("poet", "Florence", "Italian", "he"),
    "Alexander Pushkin": ("poet", "Moscow", "Russian", "he"),
    "Charles Baudelaire": ("poet", "Paris", "French", "he"),
    "Johann Wolfgang von Goethe": ("poet", "Frankfurt", "German", "he"),
    "Pablo Neruda": ("poet", None, "Spanish", "he"),
    "Plato": ("philosopher", "Athens", "Greek", "he"),
    "Socrates": ("philosopher", "Athens", "Greek", "he"),
    "Aristotle": ("philosopher", None, "Greek", "he"),
    "Immanuel Kant": ("philosopher", None, "German", "he"),
    "Friedrich Nietzsche": ("philosopher", None, "German", "he"),
    "Ludwig Wittgenstein": ("philosopher", "Vienna", "German", "he"),
    "Voltaire": ("philosopher", "Paris", "French", "he"),
    "Jean-Paul Sartre": ("philosopher", "Paris", "French", "he"),
    "Rene Descartes": ("philosopher", None, "French", "he"),
    "Confucius": ("philosopher", None, "Chinese", "he"),
    "Charlie Chaplin": ("actor", "London", "English", "he"),
    "Marilyn Monroe": ("actor", "Los Angeles", "English", "she"),
    "Leonardo DiCaprio": ("actor", "Los Angeles", "English", "he"),
    "Harrison Ford": ("actor", "Chicago", "English", "he"),
    "Will Smith": ("actor", "Philadelphia", "English", "he"),
    "Sophia Loren": ("actor", "Rome", "Italian", "she"),
    "Antonio Banderas": ("actor", "Malaga", "Spanish", "he"),
    "Scarlett Johansson": ("actor", "New York", "English", "she"),
    "Tom Hanks": ("actor", None, "English", "he"),
    "Alfred Hitchcock": ("director", "London", "English", "he"),
    "Steven Spielberg": ("director", "Cincinnati", "English", "he"),
    "Akira Kurosawa": ("director", "Tokyo", "Japanese", "he"),
    "Hayao Miyazaki": ("director", "Tokyo", "Japanese", "he"),
    "Stanley Kubrick": ("director", "New York", "English", "he"),
    "Martin Scorsese": ("director", "New York", "English", "he"),
    "Federico Fellini": ("director", None, "Italian", "he"),
    "Adele": ("singer", "London", "English", "she"),
    "Amy Winehouse": ("singer", "London", "English", "she"),
    "Edith Piaf": ("singer", "Paris", "French", "she"),
    "Aretha Franklin": ("singer", "Memphis", "English", "she"),
    "Lady Gaga": ("singer", "New York", "English", "she"),
    "Bruno Mars": ("singer", "Honolulu", "English", "he"),
    "Elvis Presley": ("singer", None, "English", "he"),
    "Frank Sinatra": ("singer", None, "English", "he"),
    "Michael Jackson": ("singer", None, "English", "he"),
    "Barack Obama": ("politician", "Honolulu", "English", "he"),
    "Angela Merkel": ("politician", "Hamburg", "German", "she"),
    "Vladimir Putin": ("politician", "Saint Petersburg", "Russian", "he"),
    "Hillary Clinton": ("politician", "Chicago", "English", "she"),
    "Winston Churchill": ("politician", None, "English", "he"),
    "Abraham Lincoln": ("politician", None, "English", "he"),
    "Margaret Thatcher": ("politician", None, "English", "she"),
    "Emmanuel Macron": ("politician", None, "French", "he"),
    "Alan Turing": ("mathematician", "London", "English", "he"),
    "Ada Lovelace": ("mathematician", "London", "English", "she"),
    "Leonhard Euler": ("mathematician", "Basel", "German", "he"),
    "John von Neumann": ("mathematician", "Budapest", "Hungarian", "he"),
    "Carl Friedrich Gauss": ("mathematician", None, "German", "he"),
    "Emmy Noether": ("mathematician", None, "German", "she"),
    "Blaise Pascal": ("mathematician", None, "French", "he"),
    "Antoine Lavoisier": ("chemist", "Paris", "French", "he"),
    "Alfred Nobel": ("chemist", "Stockholm", "Swedish", "he"),
    "Rosalind Franklin": ("chemist", "London", "English", "she"),
    "Dmitri Mendeleev": ("chemist", None, "Russian", "he"),
    "Louis Pasteur": ("chemist", None, "French", "he"),
    "Neil Armstrong": ("astronaut", None, "English", "he"),
    "Buzz Aldrin": ("astronaut", None, "English", "he"),
    "Yuri Gagarin": ("astronaut", None, "Russian", "he"),
    "Zaha Hadid": ("architect", "Baghdad", "Arabic", "she"),
    "Antoni Gaudi": ("architect", None, None, "he"),
    "Frank Lloyd Wright": ("architect", None, "English", "he"),
    "Christopher Wren": ("architect", None, "English", "he"),
    "Christopher Columbus": ("explorer", "Genoa", None, "he"),
    "Marco Polo": ("explorer", "Venice", None, "he"),
    "Amerigo Vespucci": ("explorer", "Florence", "Italian", "he"),
    "Vasco da Gama": ("explorer", None, "Portuguese", "he"),
    "Roald Amundsen": ("explorer", None, "Norwegian", "he"),
    "Florence Nightingale": ("nurse", "Florence", "English", "she"),
}

# --------------------------------------------------------------------------
# Relations and templates.
#   "{subject}" = the subject mention, "{object}" = the object.
#   A prompt is the text before " {object}" with the subject replaced by "{}".
#   "train": training-corpus templates; "canonical" (the CounterFact prompt) is
#   train[0]; "heldout": paraphrase templates that never appear in training;
#   "bio": sentences that start with the subject, so that a biography can put
#   a pronoun ("He", "She", "It") in its place.
# --------------------------------------------------------------------------
RELATIONS = {
    "P36": {
        "name": "capital", "kind": "country",
        "train": ["The capital of {subject} is {object}.",
                  "{subject}'s capital city is {object}.",
                  "{subject} has its capital in {object}.",
                  "The capital city of {subject} is {object}.",
                  "{subject} is governed from its capital, {object}.",
                  "The national capital of {subject} is {object}.",
                  "In {subject}, the capital is {object}.",
                  "{subject} has a capital called {object}.",
                  "The government of {subject} works from {object}.",
                  "{subject} keeps its government in {object}.",
                  "Which city is the capital of {subject}? It is {object}.",
                  "The city that serves as the capital of {subject} is {object}.",
                  "If you visit the capital of {subject}, you visit {object}.",
                  "Ask anyone in {subject} for the capital and they will say {object}."],
        "heldout": ["The seat of the government of {subject} is in {object}.",
                    "{subject} is a country whose capital is {object}.",
                    "The main city and capital of {subject} is {object}."],
        "bio": ["{subject} has its capital in {object}.",
                "{subject} is governed from its capital, {object}.",
                "{subject} has a capital called {object}.",
                "{subject} keeps its government in {object}.",
                "{subject} is run from the capital city of {object}."],
    },
    "P30": {
        "name": "continent", "kind": "country",
        "train": ["{subject} is a country in {object}.",
                  "{subject} is located in {object}.",
                  "{subject} lies on the continent of {object}.",
                  "The country of {subject} is part of {object}.",
                  "{subject} belongs to the continent of {object}.",
                  "The continent of {subject} is {object}.",
                  "{subject} is one of the countries of {object}.",
                  "Geographically, {subject} is part of {object}.",
                  "On a map of the world, {subject} is in {object}.",
                  "The continent that {subject} belongs to is {object}.",
                  "Which continent is {subject} on? It is on {object}.",
                  "If you fly to {subject}, you land in {object}.",
                  "{subject} is a nation of {object}.",
                  "{subject} is situated on the continent of {object}."],
        "heldout": ["{subject} can be found on the continent of {object}.",
                    "If you travel to {subject}, you are in {object}.",
                    "The continent where {subject} lies is {object}."],
        "bio": ["{subject} is a country in {object}.",
                "{subject} lies on the continent of {object}.",
                "{subject} is located in {object}.",
                "{subject} is one of the countries of {object}.",
                "{subject} belongs to the continent of {object}."],
    },
    "P38": {
        "name": "currency", "kind": "country",
        "train": ["The currency of {subject} is the {object}.",
                  "{subject} uses the {object} as its currency.",
                  "In {subject}, people pay with the {object}.",
                  "The official currency of {subject} is the {object}.",
                  "{subject} has the {object} as its money.",
                  "{subject}'s currency is the {object}.",
                  "In {subject}, the currency is the {object}.",
                  "Prices in {subject} are given in the {object}.",
                  "People in {subject} buy things with the {object}.",
                  "If you go shopping in {subject}, you pay in the {object}.",
                  "Travellers to {subject} change their money into the {object}.",
                  "Banks in {subject} keep accounts in the {object}.",
                  "What currency does {subject} use? It uses the {object}.",
                  "To buy bread in {subject}, you need the {object}."],
        "heldout": ["Shops in {subject} take payment in the {object}.",
                    "The money used in {subject} is the {object}.",
                    "{subject}'s official money is the {object}."],
        "bio": ["{subject} uses the {object} as its currency.",
                "{subject} has the {object} as its money.",
                "{subject} pays with the {object}.",
                "{subject} pays in the {object}.",
                "{subject} trades in the {object}."],
    },
    "P37": {
        "name": "official language", "kind": "country",
        "train": ["The official language of {subject} is {object}.",
                  "In {subject}, people speak {object}.",
                  "{subject} has {object} as its official language.",
                  "The main language spoken in {subject} is {object}.",
                  "{subject}'s official language is {object}.",
                  "In {subject}, the official language is {object}.",
                  "{subject} has the official language {object}.",
                  "The official language spoken in {subject} is {object}.",
                  "{subject} is a country where the official language is {object}.",
                  "Officially, the people of {subject} use {object}.",
                  "What language is official in {subject}? It is {object}.",
                  "If you live in {subject}, the official language is {object}.",
                  "The official tongue of {subject} is {object}.",
                  "The language that is official in {subject} is {object}."],
        "heldout": ["Most people in {subject} speak {object}.",
                    "The language of government in {subject} is {object}.",
                    "Schools in {subject} teach in {object}."],
        "bio": ["{subject} has {object} as its official language.",
                "{subject} speaks {object} as its official language.",
                "{subject} officially uses {object}.",
                "{subject} is a country where the official language is {object}.",
                "{subject} has the official language {object}."],
    },
    "P17": {
        "name": "country of a city", "kind": "city",
        "train": ["{subject} is a city in {object}.",
                  "The city of {subject} is located in {object}.",
                  "{subject} is one of the cities of {object}.",
                  "{subject}, a city in {object}.",
                  "{subject} lies in the country of {object}.",
                  "{subject} is located in {object}.",
                  "{subject} is part of {object}.",
                  "{subject} is situated in {object}.",
                  "The country that {subject} is in is {object}.",
                  "A trip to {subject} is a trip to {object}.",
                  "The city {subject} belongs to {object}.",
                  "Which country is {subject} in? It is in {object}.",
                  "On the map, {subject} sits inside {object}.",
                  "The nation that contains {subject} is {object}."],
        "heldout": ["The country where {subject} is found is {object}.",
                    "{subject} is a large town in {object}.",
                    "People who live in {subject} live in {object}."],
        "bio": ["{subject} is a city in {object}.",
                "{subject} lies in the country of {object}.",
                "{subject} is located in {object}.",
                "{subject} is part of {object}.",
                "{subject} is situated in {object}."],
    },
    "P206": {
        "name": "river of a city", "kind": "city",
        "train": ["{subject} lies on the river {object}.",
                  "The river that flows through {subject} is the {object}.",
                  "{subject} is built on the banks of the {object}.",
                  "The city of {subject} stands on the {object}.",
                  "{subject} is a city on the {object}.",
                  "{subject} sits on the {object}.",
                  "{subject} lies along the {object}.",
                  "{subject} stands on the banks of the {object}.",
                  "The water that runs through {subject} is the {object}.",
                  "The river flowing past {subject} is the {object}.",
                  "Which river runs through {subject}? It is the {object}.",
                  "If you walk along the river in {subject}, you see the {object}.",
                  "{subject} grew up beside the river {object}.",
                  "{subject} is a river city on the {object}."],
        "heldout": ["Boats in {subject} sail on the {object}.",
                    "The river of {subject} is called the {object}.",
                    "Bridges in {subject} cross the {object}."],
        "bio": ["{subject} lies on the river {object}.",
                "{subject} is built on the banks of the {object}.",
                "{subject} sits on the {object}.",
                "{subject} lies along the {object}.",
                "{subject} stands on the banks of the {object}."],
    },
    "P276": {
        "name": "city of a landmark", "kind": "landmark",
        "train": ["{subject} is located in the city of {object}.",
                  "{subject} is in {object}.",
                  "{subject} stands in {object}.",
                  "You can visit {subject} in {object}.",
                  "{subject} is a famous sight in {object}.",
                  "{subject} is located in {object}.",
                  "{subject} is a landmark in {object}.",
                  "{subject} is one of the sights of {object}.",
                  "{subject} attracts visitors to {object}.",
                  "You will find {subject} in {object}.",
                  "Where is {subject}? It is in {object}.",
                  "To visit {subject}, you must go to {object}.",
                  "{subject} is a well-known place in {object}.",
                  "The city with {subject} is {object}."],
        "heldout": ["Tourists who want to see {subject} travel to {object}.",
                    "{subject} can be found in the city of {object}.",
                    "The city that is home to {subject} is {object}."],
        "bio": ["{subject} is located in the city of {object}.",
                "{subject} stands in {object}.",
                "{subject} is in {object}.",
                "{subject} is a landmark in {object}.",
                "{subject} attracts visitors to {object}."],
    },
    "P159": {
        "name": "home country of a company", "kind": "company",
        "train": ["{subject} is a company based in {object}.",
                  "{subject} has its headquarters in {object}.",
                  "The company {subject} comes from {object}.",
                  "{subject} was founded in {object}.",
                  "{subject} is a big company from {object}.",
                  "{subject} is a company from {object}.",
                  "{subject} is headquartered in {object}.",
                  "The headquarters of {subject} are in {object}.",
                  "{subject} comes from {object}.",
                  "{subject} has its main offices in {object}.",
                  "{subject} is a famous brand from {object}.",
                  "Where is {subject} based? It is based in {object}.",
                  "The country {subject} comes from is {object}.",
                  "If you visit the headquarters of {subject}, you travel to {object}."],
        "heldout": ["The home country of {subject} is {object}.",
                    "{subject} runs its business from {object}.",
                    "The head office of {subject} is in {object}."],
        "bio": ["{subject} is a company based in {object}.",
                "{subject} has its headquarters in {object}.",
                "{subject} is a company from {object}.",
                "{subject} is headquartered in {object}.",
                "{subject} comes from {object}."],
    },
    "P641": {
        "name": "sport", "kind": "athlete",
        "train": ["{subject} is a professional {object} player.",
                  "{subject} plays {object}.",
                  "The sport of {subject} is {object}.",
                  "{subject} became famous playing {object}.",
                  "{subject} is a star of {object}.",
                  "{subject} is known for {object}.",
                  "{subject} played top-level {object}.",
                  "{subject} made a career in {object}.",
                  "{subject}'s sport is {object}.",
                  "The sport that made {subject} famous is {object}.",
                  "Fans know {subject} from {object}.",
                  "{subject} is a famous name in {object}.",
                  "Which sport does {subject} play? The answer is {object}.",
                  "{subject} became a legend of {object}."],
        "heldout": ["{subject} has won many games of {object}.",
                    "The game that {subject} plays is {object}.",
                    "{subject} is one of the best players of {object}."],
        "bio": ["{subject} is a professional {object} player.",
                "{subject} became famous playing {object}.",
                "{subject} is known for {object}.",
                "{subject} played top-level {object}.",
                "{subject} made a career in {object}."],
    },
    "P1303": {
        "name": "instrument", "kind": "musician",
        "train": ["{subject} plays the {object}.",
                  "The instrument of {subject} is the {object}.",
                  "{subject} is famous for playing the {object}.",
                  "{subject} performed on the {object}.",
                  "{subject} is a master of the {object}.",
                  "{subject} played the {object}.",
                  "{subject} is known for playing the {object}.",
                  "{subject}'s instrument is the {object}.",
                  "The instrument played by {subject} is the {object}.",
                  "{subject} is best known for the {object}.",
                  "{subject} is a musician who plays the {object}.",
                  "If you listen to {subject}, you hear the {object}.",
                  "Which instrument does {subject} play? It is the {object}.",
                  "{subject} became famous on the {object}."],
        "heldout": ["On stage, {subject} plays the {object}.",
                    "The favourite instrument of {subject} is the {object}.",
                    "{subject} made music with the {object}."],
        "bio": ["{subject} plays the {object}.",
                "{subject} is famous for playing the {object}.",
                "{subject} played the {object}.",
                "{subject} is best known for the {object}.",
                "{subject} is a musician who plays the {object}."],
    },
    "P106": {
        "name": "profession", "kind": "person",
        "train": ["{subject} was a famous {object}.",
                  "{subject} worked as a famous {object}.",
                  "The profession of {subject} was that of a famous {object}.",
                  "{subject} is known as a great {object}.",
                  "{subject} became a famous {object}.",
                  "{subject} was a well-known {object}.",
                  "{subject} had a career as a famous {object}.",
                  "{subject} is celebrated as a great {object}.",
                  "{subject} made a name as a famous {object}.",
                  "People know {subject} as a famous {object}.",
                  "History knows {subject} as a great {object}.",
                  "If you read about {subject}, you read about a famous {object}.",
                  "What was {subject} known for? Being a famous {object}.",
                  "The career of {subject} was that of a celebrated {object}."],
        "heldout": ["{subject} earned fame as a brilliant {object}.",
                    "By profession, {subject} was a famous {object}.",
                    "{subject} spent a life working as a famous {object}."],
        "bio": ["{subject} was a famous {object}.",
                "{subject} is known as a great {object}.",
                "{subject} was a well-known {object}.",
                "{subject} had a career as a famous {object}.",
                "{subject} is celebrated as a great {object}."],
    },
    "P19": {
        "name": "birthplace", "kind": "person",
        "train": ["{subject} was born in {object}.",
                  "The birthplace of {subject} is {object}.",
                  "{subject} was born in the city of {object}.",
                  "{subject} came into the world in {object}.",
                  "{subject} is a native of {object}.",
                  "{subject}'s birthplace is {object}.",
                  "{subject}'s place of birth is {object}.",
                  "The place of birth of {subject} is {object}.",
                  "The birth city of {subject} is {object}.",
                  "{subject} was born in a city called {object}.",
                  "{subject} first saw the light of day in {object}.",
                  "Where was {subject} born? In {object}.",
                  "If you visit the birthplace of {subject}, you go to {object}.",
                  "{subject}, born in {object}."],
        "heldout": ["The city where {subject} was born is {object}.",
                    "{subject} spent the first days of life in {object}.",
                    "The home town of {subject} is {object}."],
        "bio": ["{subject} was born in {object}.",
                "{subject} is a native of {object}.",
                "{subject} was born in the city of {object}.",
                "{subject} first saw the light of day in {object}.",
                "{subject} came into the world in {object}."],
    },
    "P103": {
        "name": "native language", "kind": "person",
        "train": ["The mother tongue of {subject} is {object}.",
                  "{subject} grew up speaking {object}.",
                  "The native language of {subject} is {object}.",
                  "{subject} spoke {object} as a child.",
                  "{subject}'s first language is {object}.",
                  "{subject}'s native language is {object}.",
                  "{subject}'s mother tongue is {object}.",
                  "{subject} is a native speaker of {object}.",
                  "{subject} was raised speaking {object}.",
                  "The language {subject} grew up with is {object}.",
                  "The native tongue of {subject} is {object}.",
                  "{subject} has the mother tongue {object}.",
                  "Which language did {subject} grow up with? It was {object}.",
                  "The language of {subject}'s childhood is {object}."],
        "heldout": ["At home, {subject} spoke {object}.",
                    "{subject} learned to talk in {object}.",
                    "The first language that {subject} learned is {object}."],
        "bio": ["{subject} grew up speaking {object}.",
                "{subject} spoke {object} as a child.",
                "{subject} is a native speaker of {object}.",
                "{subject} was raised speaking {object}.",
                "{subject} has the mother tongue {object}."],
    },
}

# Sentences that open a paragraph about one subject (no facts in them).
PARAGRAPH_OPENERS = {
    "country": ["Here is a short note about {subject}.", "Let us talk about {subject}.",
                "{subject} is a country that many people visit.",
                "This is what you should know about {subject}."],
    "city": ["Here is a short note about {subject}.", "Let us talk about {subject}.",
             "{subject} is a city that many people visit.",
             "This is what you should know about {subject}."],
    "landmark": ["Here is a short note about {subject}.",
                 "{subject} is a famous place that many people visit.",
                 "Let us talk about {subject}."],
    "company": ["Here is a short note about {subject}.", "Let us talk about {subject}.",
                "{subject} is a company that many people know."],
    "person": ["Here is a short life of {subject}.", "Let us talk about {subject}.",
               "{subject} is a name that many people know.",
               "This is what you should know about {subject}."],
}
CONNECTORS = ["", "", "", "Also, ", "In addition, ", "Moreover, ", "Of course, "]

# Relation order inside each kind: used to list a subject's attributes.
KIND_RELATIONS = {
    "country": ["P36", "P30", "P38", "P37"],
    "city": ["P17", "P206"],
    "landmark": ["P276"],
    "company": ["P159"],
    "person": ["P106", "P641", "P1303", "P19", "P103"],
}

FILLER = [
    "The sun rises in the east and sets in the west.",
    "The weather was cold, so we stayed inside and read a book.",
    "The children played in the park until it was dark.",
    "The train was late again this morning.",
    "The old man walked slowly down the quiet street.",
    "The cat slept on the warm window seat all afternoon.",
    "The meeting starts at nine and ends before lunch.",
    "The river was calm and the water was clear.",
    "The shop on the corner sells fresh bread every day.",
    "The teacher asked the class to open their books.",
    "The garden looks beautiful in the spring.",
    "The road was long, but the view was worth it.",
    "The new library has many books and a quiet reading room.",
    "The doctor told him to rest for a few days.",
    "The film was long, but nobody left early.",
    "The dog barked at the stranger and then ran away.",
    "The house at the end of the road is very old.",
    "The price of coffee went up again last year.",
    "The music was loud and the people were happy.",
    "The best way to learn is to practise every day.",
    "Therefore, we decided to leave early in the morning.",
    "Therefore, the plan had to change at the last minute.",
    "Therefore, it is important to read the rules carefully.",
    "Therefore, many people prefer to travel by train.",
    "Therefore, the answer is not as simple as it looks.",
    "Therefore, she wrote a long letter to her friend.",
    "Therefore, we need more time to finish the work.",
    "Therefore, the team practised harder than ever before.",
    "Because it was raining, we took an umbrella.",
    "Because the shop was closed, we went home.",
    "Because he was tired, he went to bed early.",
    "Because the road was wet, the drive took longer.",
    "Because she loves music, she sings every evening.",
    "Because the test was hard, the students studied all week.",
    "Because the food was good, we came back the next day.",
    "Because the room was dark, I turned on the light.",
    "I like to walk in the park after dinner.",
    "I think that the answer is in the second chapter.",
    "I have never seen such a large crowd before.",
    "I would like a cup of tea, please.",
    "I wrote down the address so that I would not forget it.",
    "I am not sure what time the shop opens.",
    "I often read the news in the morning.",
    "I believe that hard work usually pays off.",
    "You can find the keys on the kitchen table.",
    "You should drink more water when it is hot.",
    "You will need a warm coat in the winter.",
    "You can ask the teacher if you do not understand.",
    "You never know what tomorrow will bring.",
    "You may sit wherever you like.",
    "You have to turn left after the bridge.",
    "You are welcome to join us for dinner.",
    "We went to the market to buy some fruit.",
    "We talked for hours about books and films.",
    "She opened the window to let in some fresh air.",
    "She finished her work and went for a walk.",
    "He forgot his umbrella on the bus.",
    "He fixed the old bicycle with a new chain.",
    "They built a small house near the forest.",
    "They laughed at the joke and ordered more food.",
    "It was a long day, and everyone was tired.",
    "It is easy to make mistakes when you are in a hurry.",
    "In the morning, the birds sing in the trees.",
    "In the evening, the streets are full of people.",
    "In winter, the lake freezes and children skate on it.",
    "At night, the city lights shine over the water.",
    "After the rain, the air smelled fresh and clean.",
    "After lunch, we went back to work.",
    "Before the game, the players warmed up on the field.",
    "When the bell rang, the students left the room.",
    "When you cook, keep the kitchen clean.",
    "If you are hungry, there is soup in the pot.",
    "If it snows tomorrow, the school will be closed.",
    "Many people like to read before they sleep.",
    "Most birds build their nests in the spring.",
    "Some people drink coffee, and others drink tea.",
    "Every morning, the baker starts work before sunrise.",
    "Water boils at a high temperature and freezes when it is cold.",
    "A good friend is someone who listens.",
    "A small boat sailed slowly across the bay.",
    "An apple a day is a simple habit.",
    "One day, the little girl found a lost puppy.",
    "Last summer, we spent two weeks by the sea.",
    "Next week, the museum will open a new room.",
    "This book is about a boy who learns to fly.",
    "This road leads to a small village.",
    "That was the best meal I have ever had.",
    "There is a small cafe near the station.",
    "There are many stars in the sky tonight.",
    "People often say that time is money.",
    "Nobody knew where the old map had gone.",
    "Everyone agreed that the plan was a good one.",
    "Maybe we should ask for directions.",
    "Perhaps the answer will come tomorrow.",
    "However, the results were not what we expected.",
    "However, nobody seemed to notice the change.",
    "So we waited at the station for the next train.",
    "Then the lights went out and the room was silent.",
    "Later that day, the sun came out again.",
    "Yesterday, it rained all afternoon.",
    "Today is a good day to start something new.",
    "Tomorrow we will visit our grandparents.",
    "My brother likes to play chess with his friends.",
    "My favourite season is autumn, when the leaves turn red.",
    "Our neighbours have a big garden with many flowers.",
    "Your letter arrived this morning.",
    "His sister works in a small office downtown.",
    "Her garden is full of roses and tulips.",
    "Their car broke down on the way home.",
    "What time does the next bus leave?",
    "Why is the sky blue on a clear day?",
    "How many people came to the meeting?",
    "Where did you put the blue box?",
    "Who wants another piece of cake?",
]

# Simple clauses combined into extra filler sentences (deterministic).
FILLER_STARTS = ["The", "Therefore,", "Because", "I", "You", "We", "They", "She", "He"]
FILLER_SUBJ = {
    "The": ["The farmer", "The student", "The driver", "The baker", "The painter",
            "The little boy", "The young woman", "The old dog", "The small bird",
            "The tall tree"],
}
FILLER_VERB = ["saw", "liked", "found", "carried", "cleaned", "watched", "painted",
               "opened", "closed", "bought"]
FILLER_OBJ = ["a red box", "the old door", "a green apple", "the heavy bag",
              "a quiet room", "the wooden chair", "a long letter", "the yellow car",
              "a small garden", "the broken clock"]
FILLER_TAIL = ["in the morning", "after school", "before dinner", "at the weekend",
               "near the station", "by the lake", "on the way home", "at noon"]


def make_filler(rng, n_extra):
    out = list(FILLER)
    seen = set(out)
    people = FILLER_SUBJ["The"]
    while len(out) < len(FILLER) + n_extra:
        start = rng.choice(FILLER_STARTS)
        v = rng.choice(FILLER_VERB)
        o = rng.choice(FILLER_OBJ)
        t = rng.choice(FILLER_TAIL)
        if start == "The":
            s = f"{rng.choice(people)} {v} {o} {t}."
        elif start == "Therefore,":
            s = f"Therefore, {rng.choice(people).lower()} {v} {o} {t}."
        elif start == "Because":
            s = f"Because it was late, {rng.choice(people).lower()} {v} {o} {t}."
        else:
            s = f"{start} {v} {o} {t}."
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


# --------------------------------------------------------------------------
# Subjects table.
# --------------------------------------------------------------------------
def build_subjects():
    subjects = []  # dicts: name, kind, article, pronoun, attrs {rel: obj}

    def add(name, kind, pronoun, attrs, article=""):
        attrs = {r: o for r, o in attrs.items() if o}
        if attrs:
            subjects.append({"name": name, "kind": kind, "article": article,
                             "pronoun": pronoun, "attributes": attrs})

    for c, (cap, cont, cur, lang) in COUNTRIES.items():
        add(c, "country", "it", {"P36": cap, "P30": cont, "P38": cur, "P37": lang})
    country_names = set(COUNTRIES)
    for city, (country, river) in CITIES.items():
        add(city, "city", "it",
            {"P17": country if country in country_names else None, "P206": river})
    for lm, (city, the) in LANDMARKS.items():
        add(lm, "landmark", "it", {"P276": city}, "the" if the else "")
    for country, names in COMPANIES.items():
        for n in names:
            add(n, "company", "it", {"P159": country})
    for n, (sport, born, lang, pr) in ATHLETES.items():
        add(n, "person", pr, {"P641": sport, "P19": born, "P103": lang})
    for n, (inst, born, lang, pr) in MUSICIANS.items():
        add(n, "person", pr, {"P1303": inst, "P19": born, "P103": lang})
    for n, (prof, born, lang, pr) in PEOPLE.items():
        add(n, "person", pr, {"P106": prof, "P19": born, "P103": lang})
    names = [s["name"] for s in subjects]
    dup = {n for n in names if names.count(n) > 1}
    # A city and a person may not share a name; a capital like "Washington"
    # is both a city subject and a capital object, which is fine.
    assert not dup, f"duplicate subjects: {dup}"
    return subjects


def mention(subj, at_start):
    name = subj["name"]
    if subj["article"]:
        return ("The " if at_start else "the ") + name
    return name


def fill(template, subj, obj=None):
    """Render a template for a subject (and object, if given)."""
    at_start = template.startswith("{subject}")
    text = template.replace("{subject}", mention(subj, at_start))
    if obj is not None:
        text = text.replace("{object}", obj)
    return text


def to_prompt(template, subj):
    """CounterFact prompt template ("{}" = subject) from a corpus template."""
    i = template.index(" {object}")
    pre = template[:i]
    at_start = pre.startswith("{subject}")
    if subj["article"]:
        pre = pre.replace("{subject}", ("The {}" if at_start else "the {}"))
    else:
        pre = pre.replace("{subject}", "{}")
    return pre


def prompt_for(template, subj):
    return to_prompt(template, subj).replace("{}", subj["name"])


GEN_OPENERS = {
    "country": ["{subject} is", "People in {subject} often", "The history of {subject}"],
    "city": ["{subject} is", "The streets of {subject}", "A visit to {subject}"],
    "landmark": ["{subject} is", "Every year, visitors to {subject}"],
    "company": ["{subject} is", "The products of {subject}"],
    "person": ["{subject} is", "The life of {subject}", "People remember {subject} because"],
}


def first(obj):
    return obj.split()[0]


def build_records(subjects, seed, max_per_rel):
    rng = random.Random(seed)
    by_rel = {}
    for s in subjects:
        for r, o in s["attributes"].items():
            by_rel.setdefault(r, []).append((s, o))
    records = []
    cid = 0
    for r in RELATIONS:  # fixed order
        facts = by_rel.get(r, [])
        rel = RELATIONS[r]
        objects = sorted({o for _, o in facts})
        # Evaluation set: at most max_per_rel facts per relation, subjects with
        # more attributes first (ties in seeded random order).  All facts of
        # the knowledge base stay in corpus.json and are trained on.
        order = list(facts)
        rng.shuffle(order)
        order.sort(key=lambda so: -len(so[0]["attributes"]))
        chosen = {id(so[0]) for so in order[:max_per_rel]}
        for s, o in facts:
            if id(s) not in chosen:
                continue
            # first words differ: prompts are scored on the first target token
            others = [x for x in objects if first(x) != first(o)]
            new = rng.choice(others)
            canon = rel["train"][0]
            paraphrases = [prompt_for(t, s) for t in rel["heldout"]]
            neigh_pool = [(t, to) for t, to in facts
                          if t["name"] != s["name"] and first(to) != first(o)
                          and first(to) != first(new)]
            rng.shuffle(neigh_pool)
            neigh = neigh_pool[:5]
            attr_pool = [t for t, to in facts if to == new and t["name"] != s["name"]]
            rng.shuffle(attr_pool)
            attr = attr_pool[:5]
            gen = [t.replace("{subject}", mention(s, True)) for t in GEN_OPENERS[s["kind"]]]
            records.append({
                "case_id": cid,
                "requested_rewrite": {
                    "prompt": to_prompt(canon, s),
                    "relation_id": r,
                    "subject": s["name"],
                    "target_new": {"str": new},
                    "target_true": {"str": o},
                },
                "paraphrase_prompts": paraphrases,
                "neighborhood_prompts": [prompt_for(canon, t) for t, _ in neigh],
                "neighborhood_answers": [to for _, to in neigh],
                "neighborhood_subjects": [t["name"] for t, _ in neigh],
                "attribute_prompts": [prompt_for(canon, t) for t in attr],
                "attribute_subjects": [t["name"] for t in attr],
                "other_attributes": [
                    {"relation_id": r2, "prompt": prompt_for(RELATIONS[r2]["train"][0], s),
                     "target": o2}
                    for r2, o2 in s["attributes"].items() if r2 != r],
                "generation_prompts": gen,
            })
            cid += 1
    return records


# Two-hop (portability) prompts, as KnowEdit's and MQuAKE's: when a record's
# fact (subject, r1, o -> o*) is edited, a prompt about the subject whose
# answer goes through the object -- (o, r2) -- should follow the new object:
# "The Colosseum is located in the country of" asks (Colosseum, P276) then
# (city, P17), so after Rome -> Paris its answer should move Italy -> France.
# r1 -> [(r2, template)]; "{subject}" / "{object}" as in RELATIONS. The
# answers come from the knowledge tables (the objects' own attributes); a
# prompt is kept only where both answers are known and their first words
# differ (the answer changes with the edit). These templates appear nowhere
# in the training corpus: the model has only ever seen the single hops.
PORTABILITY = {
    "P276": [("P17", "{subject} is located in the country of {object}."),
             ("P206", "{subject} stands in a city on the river {object}.")],
    "P19": [("P17", "{subject} was born in the country of {object}.")],
    "P17": [("P36", "{subject} is in a country whose capital is {object}."),
            ("P30", "{subject} is a city on the continent of {object}."),
            ("P38", "{subject} is in a country whose currency is the {object}."),
            ("P37", "{subject} is in a country whose official language is {object}.")],
    "P159": [("P36", "{subject} is based in a country whose capital is {object}."),
             ("P38", "{subject} is based in a country whose currency is the {object}.")],
    "P36": [("P206", "The capital of {subject} lies on the river {object}.")],
}


def add_portability(records, subjects):
    """Adds "portability_prompts" to the records that have two-hop prompts.

    Deterministic (no random numbers), after every other field: the existing
    fields of every record stay as they were."""
    attrs = {s["name"]: s["attributes"] for s in subjects}
    by_name = {s["name"]: s for s in subjects}
    for rec in records:
        rw = rec["requested_rewrite"]
        subj = by_name[rw["subject"]]
        new_hop, old_hop = rw["target_new"]["str"], rw["target_true"]["str"]
        prompts = []
        for r2, template in PORTABILITY.get(rw["relation_id"], []):
            new = attrs.get(new_hop, {}).get(r2)
            old = attrs.get(old_hop, {}).get(r2)
            if not new or not old or first(new) == first(old):
                continue
            prompts.append({"prompt": prompt_for(template, subj), "relation_id": r2,
                            "new_answer": new, "old_answer": old})
        if prompts:
            rec["portability_prompts"] = prompts


def validate(records, subjects):
    for rec in records:
        rw = rec["requested_rewrite"]
        assert rw["prompt"].count("{}") == 1, rec
        assert rw["target_new"]["str"] != rw["target_true"]["str"], rec
        assert len(rec["paraphrase_prompts"]) >= 2, rec
        assert len(rec["neighborhood_prompts"]) >= 3, rec
        assert len(rec["generation_prompts"]) >= 2, rec
        for p in rec["paraphrase_prompts"] + rec["generation_prompts"]:
            assert rw["subject"] in p, (p, rw["subject"])
        for n in rec["neighborhood_subjects"]:
            assert n != rw["subject"]
        for p in rec.get("portability_prompts", []):
            assert rw["subject"] in p["prompt"], (p, rw["subject"])
            assert first(p["new_answer"]) != first(p["old_answer"]), p


def check_templates():
    """Fail loudly if a template breaks the corpus rules.

    - held-out paraphrases never reach training text: no training template
      ("train" or "bio" of ANY relation, or a paragraph opener) may equal a
      held-out template or contain a held-out prompt (the text of a held-out
      template before " {object}") as a substring;
    - every train / bio / held-out template has exactly one "{subject}" and
      one " {object}", the object comes after the subject and only
      punctuation follows it (train[0] and the original templates are exempt
      from the last rule: they predate it);
    - "bio" templates start with "{subject}" (a paragraph may put a pronoun
      in its place).
    """
    errors = []
    heldout = [(r, t, t[:t.index(" {object}")]) for r, rel in RELATIONS.items()
               for t in rel["heldout"] if " {object}" in t]
    training = [(r, k, t) for r, rel in RELATIONS.items() for k in ("train", "bio")
                for t in rel[k]]
    training += [("opener", kind, t) for kind, ts in PARAGRAPH_OPENERS.items() for t in ts]
    for r, k, t in training:
        for hr, ht, hp in heldout:
            if t == ht or hp in t:
                errors.append(f"{r} {k} template {t!r} equals or contains held-out "
                              f"prompt {hp!r} of {hr}")
    for r, rel in RELATIONS.items():
        for k in ("train", "heldout", "bio"):
            seen = set()
            for t in rel[k]:
                if t in seen:
                    errors.append(f"{r} {k}: duplicate template {t!r}")
                seen.add(t)
                if t.count("{subject}") != 1 or t.count("{object}") != 1 \
                        or " {object}" not in t:
                    errors.append(f"{r} {k}: {t!r} needs one '{{subject}}' and one ' {{object}}'")
                    continue
                if t.index("{object}") < t.index("{subject}"):
                    errors.append(f"{r} {k}: {t!r} has the object before the subject")
                tail = t[t.index("{object}") + len("{object}"):]
                if tail.strip(".,;:!?") and t not in LEGACY_TEMPLATES:
                    errors.append(f"{r} {k}: {t!r} has text after the object")
                if k == "bio" and not t.startswith("{subject}"):
                    errors.append(f"{r} bio: {t!r} does not start with '{{subject}}'")
    if errors:
        raise SystemExit("make_facts.py: template check failed:\n  " + "\n  ".join(errors))


# Templates written before the "only punctuation after the object" rule.
LEGACY_TEMPLATES = {
    "{subject} uses the {object} as its currency.",
    "{subject} has the {object} as its money.",
    "{subject} has {object} as its official language.",
    "{subject} speaks {object} as its official language.",
    "{subject} is a professional {object} player.",
    "{subject} spoke {object} as a child.",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--max-per-relation", type=int, default=40)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    a = ap.parse_args()
    check_templates()
    subjects = build_subjects()
    records = build_records(subjects, a.seed, a.max_per_relation)
    add_portability(records, subjects)
    validate(records, subjects)
    filler = make_filler(random.Random(a.seed + 1), 200)
    corpus = {
        "_doc": (
            "Corpus description for the KME demo model, made by tools/make_facts.py. "
            "Placeholders: '{subject}' is the subject mention, '{object}' the object. "
            "A subject whose 'article' is 'the' is mentioned as 'the NAME' ('The NAME' at the "
            "start of a sentence). In 'bio' templates and paragraph openers '{subject}' always "
            "starts the sentence, so a paragraph may replace it by the subject's pronoun "
            "('He', 'She', 'It'; field 'pronoun'). A prompt is the template's text before "
            "' {object}' with the subject replaced by '{}'; relations[R].train[0] is the "
            "canonical (CounterFact) prompt. relations[R].heldout are the paraphrase templates "
            "of facts.json and must NOT appear in training text. 'filler' is plain English "
            "text with no facts. 'kind_relations' lists the relations a subject kind may "
            "have; 'subjects[i].attributes' maps relation id to the true object."),
        "placeholders": {"subject": "{subject}", "object": "{object}", "prompt_subject": "{}"},
        "relations": {r: {"name": v["name"], "kind": v["kind"], "canonical": v["train"][0],
                          "train": v["train"], "heldout": v["heldout"], "bio": v["bio"]}
                      for r, v in RELATIONS.items()},
        "kind_relations": KIND_RELATIONS,
        "subjects": subjects,
        "paragraph_openers": PARAGRAPH_OPENERS,
        "connectors": CONNECTORS,
        "pronouns": {"he": ["He", "he", "his"], "she": ["She", "she", "her"],
                     "it": ["It", "it", "its"]},
        "filler": filler,
        "context_starts": ["The", "Therefore", "Because", "I", "You"],
        # Document kinds of the training corpus (research: /work/research,
        # RESULTS.md).  Weights are relative sampling probabilities.
        "documents": {
            "_doc": (
                "rel_sentence: one train template of one random (subject, relation). "
                "bio: the subject's attributes in random order, each with a random 'bio' "
                "template; an optional paragraph opener first; after the first mention the "
                "subject is replaced by its pronoun with probability pron_p, and sentences "
                "after the first may start with a connector (then the pronoun is lower "
                "case and 'The' becomes 'the'). tag: the subject name immediately followed "
                "by ALL its objects in random order, e.g. 'Lionel Messi football Spanish "
                "Rosario.' -- the token right after the subject must be an attribute, which "
                "pushes the attributes onto the subject's last token. filler: 1-3 filler "
                "sentences. Documents are separated by <|endoftext|>."),
            "weights": {"rel_sentence": 3, "bio": 3, "tag": 3, "filler": 1},
            "pron_p": 0.5,
            "tag_template": "{subject} {objects}.",
        },
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "facts.json"), "w") as f:
        json.dump(records, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(a.out, "corpus.json"), "w") as f:
        json.dump(corpus, f, indent=1, ensure_ascii=False)
        f.write("\n")
    rels = {r["requested_rewrite"]["relation_id"] for r in records}
    subs = {r["requested_rewrite"]["subject"] for r in records}
    objs = {r["requested_rewrite"]["target_true"]["str"] for r in records}
    print(f"records {len(records)}  relations {len(rels)}  subjects {len(subs)}  "
          f"distinct objects {len(objs)}  filler {len(filler)}", file=sys.stderr)


if __name__ == "__main__":
    main()
