"""Deterministic synthetic job candidates, for demos, tests and load runs.

Every record i is built from its own ``random.Random(f"{seed}:{i}")``, so the
output is reproducible, a prefix of a longer run equals a shorter run, and
records can be streamed one at a time (200k records never sit in memory).

Each candidate has a hidden "quality" in [0, 1] that drives promotion pace,
company and school pedigree and skill breadth, which gives a realistic spread
of strong and weak profiles instead of uniform noise.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Iterator

# Fixed "now" rather than today's date: output must not change over time.
CURRENT_YEAR = 2025

# Years of experience needed to reach ladder level i at normal pace.
LEVEL_THRESHOLDS = (0, 2, 5, 10, 15, 20)

FIRST_NAMES = [
    "James", "Mary", "Wei", "Priya", "Mohammed", "Fatima", "Carlos", "Sofía", "Olga", "Dmitri",
    "Aiko", "Hiroshi", "Chen", "Mei", "Arjun", "Ananya", "Kwame", "Amara", "Lucas", "Emma",
    "Noah", "Olivia", "Liam", "Ava", "Ethan", "Isabella", "Mateo", "Valentina", "Jin", "Seo-yeon",
    "Minh", "Linh", "Oluwaseun", "Chidi", "Ngozi", "Yusuf", "Aisha", "Omar", "Layla", "Hassan",
    "Zainab", "Ivan", "Anastasia", "Łukasz", "Agnieszka", "Søren", "Freya", "Lars", "Ingrid", "Matteo",
    "Giulia", "Pierre", "Camille", "Jean", "Chloé", "Hans", "Greta", "José", "María", "Diego",
    "Lucía", "Rahul", "Sneha", "Vikram", "Deepika", "Tariq", "Nadia", "Ravi", "Kavya", "Samuel",
    "Grace", "Daniel", "Hannah", "Michael", "Sarah", "David", "Rachel", "Benjamin", "Leah", "Tomás",
    "Inês", "João", "Beatriz", "Kofi", "Abena", "Tenzin", "Pema", "Ahmet", "Elif", "Mehmet",
    "Zeynep", "Nikos", "Eleni", "Andrei", "Ioana", "Kai", "Leilani", "Sipho", "Thandiwe", "Zoë",
]

LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernández", "López", "González", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Kim", "Park", "Choi", "Wang", "Li", "Zhang", "Liu", "Chen", "Yang",
    "Nguyen", "Tran", "Pham", "Patel", "Shah", "Sharma", "Gupta", "Singh", "Kumar", "Reddy",
    "Iyer", "Khan", "Ahmed", "Ali", "Hussain", "Rahman", "Okafor", "Adeyemi", "Mensah", "Osei",
    "Mwangi", "Kariuki", "Dlamini", "Nkosi", "Tanaka", "Suzuki", "Sato", "Watanabe", "Yamamoto", "Müller",
    "Schmidt", "Schneider", "Fischer", "Weber", "Dubois", "Moreau", "Laurent", "Rossi", "Russo", "Bianchi",
    "Kowalski", "Nowak", "Wiśniewski", "Ivanov", "Petrov", "Smirnov", "Popescu", "Jensen", "Nielsen", "Hansen",
    "Andersson", "Johansson", "Larsen", "O'Brien", "Murphy", "Kelly", "Silva", "Santos", "Oliveira", "Pereira",
    "Costa", "Yılmaz", "Kaya", "Papadopoulos", "Cohen", "Levi", "Friedman", "Kahale", "Novak", "Horvat",
]

LOCATIONS = [
    "San Francisco, CA", "Seattle, WA", "New York, NY", "Austin, TX", "Boston, MA", "Chicago, IL",
    "Denver, CO", "Atlanta, GA", "Columbus, OH", "Raleigh, NC", "Remote", "Remote (US)", "Toronto, Canada",
    "Vancouver, Canada", "London, UK", "Manchester, UK", "Dublin, Ireland", "Berlin, Germany",
    "Munich, Germany", "Amsterdam, Netherlands", "Paris, France", "Warsaw, Poland", "Kraków, Poland",
    "Stockholm, Sweden", "Zürich, Switzerland", "Bangalore, India", "Hyderabad, India", "Pune, India",
    "Singapore", "Tokyo, Japan", "Seoul, South Korea", "Sydney, Australia", "São Paulo, Brazil",
    "Mexico City, Mexico", "Buenos Aires, Argentina", "Lagos, Nigeria", "Nairobi, Kenya", "Cape Town, South Africa",
]

# Well-known employers; the baseline scorer keeps its own list on purpose
# (it must stay transparent on its own), so the two only mostly overlap.
TOP_COMPANIES = [
    "Google", "Meta", "Apple", "Amazon", "Microsoft", "Netflix", "Stripe", "NVIDIA", "Airbnb", "Uber",
    "Databricks", "OpenAI", "Shopify", "Spotify", "LinkedIn", "Salesforce", "Adobe", "Snowflake",
]
KNOWN_COMPANIES = [
    "IBM", "Oracle", "Cisco", "Intel", "SAP", "Accenture", "Infosys", "Deloitte", "Atlassian",
    "Dropbox", "Twilio", "Intuit", "Booking.com", "Zalando", "Capital One", "JPMorgan Chase",
]
ORDINARY_COMPANIES = [
    "Acme Corp", "Northwind Traders", "Brightline Logistics", "Pinecrest Insurance", "Riverbend Health",
    "Summit Retail Group", "Bluefin Analytics", "Harborview Bank", "Cedar & Pine Software", "Redwood Media",
    "Ironclad Manufacturing", "Greenfield Energy", "Lakeside Credit Union", "Orbit Telecom", "Maple Leaf Foods",
    "Quantum Leap Labs", "Sunrise Hospitality", "Granite Systems", "Willow Education", "Beacon Payments",
    "TechNova Solutions", "Silverline Consulting", "Metro Transit Authority", "Helix Biotech", "Copperfield Games",
    "Atlas Freight", "Nimbus Cloud Services", "Kestrel Security", "Sparrow Apps", "Evergreen Realty",
]

TOP_SCHOOLS = [
    "MIT", "Stanford University", "Carnegie Mellon University", "UC Berkeley", "Harvard University",
    "Caltech", "Princeton University", "University of Cambridge", "University of Oxford", "ETH Zürich",
    "IIT Bombay", "IIT Delhi", "Tsinghua University", "University of Toronto", "University of Waterloo",
    "Georgia Tech", "Cornell University", "National University of Singapore", "EPFL", "University of Michigan",
]
ORDINARY_SCHOOLS = [
    "Arizona State University", "University of Central Florida", "San Jose State University",
    "Ohio State University", "Portland State University", "University of Leeds", "University of Manchester",
    "Technical University of Łódź", "Universidad de Buenos Aires", "University of Lagos", "University of Nairobi",
    "Western Governors University", "University of Phoenix", "Kent State University", "Anna University",
    "Universidade Federal de Minas Gerais", "Université de Lyon", "University of Mumbai", "Rutgers University",
    "Texas Tech University", "Sacramento State University", "Fontys University of Applied Sciences",
    "Middle Tennessee State University", "University of the Philippines", "Community College of Denver",
]
BOOTCAMPS = ["General Assembly", "Hack Reactor", "Le Wagon", "Flatiron School", "App Academy", "Springboard"]

# One entry per role family: title ladder (index = level), skill pool, study
# fields and what the person typically did (for work-history summaries).
ROLE_FAMILIES = {
    "backend": {
        "ladder": ["Junior Software Engineer", "Software Engineer", "Senior Software Engineer",
                   "Staff Software Engineer", "Principal Software Engineer"],
        "skills": ["Python", "Java", "Go", "SQL", "PostgreSQL", "Docker", "Kubernetes", "AWS", "REST APIs",
                   "gRPC", "Redis", "Kafka", "Microservices", "System Design", "Git", "C++", "Rust"],
        "fields": ["Computer Science", "Software Engineering", "Computer Engineering", "Mathematics"],
        "work": ["built and maintained REST services", "migrated a monolith to microservices",
                 "cut API latency by optimizing database queries", "owned the payments backend",
                 "designed the event-driven order pipeline", "improved test coverage and CI reliability"],
    },
    "frontend": {
        "ladder": ["Junior Frontend Developer", "Frontend Developer", "Senior Frontend Engineer",
                   "Staff Frontend Engineer"],
        "skills": ["JavaScript", "TypeScript", "React", "Vue.js", "Next.js", "HTML", "CSS", "Redux",
                   "Accessibility", "Webpack", "Jest", "GraphQL", "Figma", "Tailwind CSS"],
        "fields": ["Computer Science", "Information Systems", "Graphic Design", "Communications"],
        "work": ["rebuilt the checkout UI in React", "introduced a shared component library",
                 "improved Core Web Vitals across the marketing site", "built internal admin dashboards",
                 "led the migration from JavaScript to TypeScript", "made the product WCAG AA accessible"],
    },
    "data_science": {
        "ladder": ["Junior Data Scientist", "Data Scientist", "Senior Data Scientist",
                   "Staff Data Scientist", "Principal Data Scientist"],
        "skills": ["Python", "R", "SQL", "pandas", "scikit-learn", "Statistics", "A/B Testing", "Tableau",
                   "Causal Inference", "Forecasting", "Spark", "Jupyter", "Experiment Design", "dbt"],
        "fields": ["Statistics", "Mathematics", "Economics", "Physics", "Computer Science"],
        "work": ["ran A/B tests for the growth team", "built churn prediction models",
                 "created demand forecasts used by operations", "defined core product metrics",
                 "automated weekly business reporting", "analyzed pricing experiments"],
    },
    "ml": {
        "ladder": ["Junior ML Engineer", "ML Engineer", "Senior ML Engineer", "Staff ML Engineer",
                   "Principal ML Engineer"],
        "skills": ["Python", "PyTorch", "TensorFlow", "MLOps", "Kubernetes", "NLP", "Computer Vision",
                   "LLMs", "Feature Stores", "Spark", "CUDA", "Model Serving", "SQL", "Airflow"],
        "fields": ["Computer Science", "Machine Learning", "Electrical Engineering", "Mathematics"],
        "work": ["shipped a ranking model to production", "built the model training pipeline",
                 "reduced inference cost with quantization", "fine-tuned language models for support",
                 "set up model monitoring and drift alerts", "built a recommendation system"],
    },
    "data_engineering": {
        "ladder": ["Junior Data Engineer", "Data Engineer", "Senior Data Engineer", "Staff Data Engineer",
                   "Principal Data Engineer"],
        "skills": ["SQL", "Python", "Spark", "Airflow", "dbt", "Kafka", "Snowflake", "BigQuery", "AWS",
                   "Data Modeling", "Scala", "ETL", "Terraform"],
        "fields": ["Computer Science", "Information Systems", "Mathematics"],
        "work": ["built batch and streaming ETL pipelines", "moved the warehouse to Snowflake",
                 "introduced data quality checks", "modeled the analytics layer in dbt",
                 "cut pipeline costs by a third", "owned the event tracking pipeline"],
    },
    "devops": {
        "ladder": ["Junior DevOps Engineer", "DevOps Engineer", "Senior Site Reliability Engineer",
                   "Staff Site Reliability Engineer", "Principal Infrastructure Engineer"],
        "skills": ["Linux", "Kubernetes", "Docker", "Terraform", "AWS", "GCP", "Prometheus", "Grafana",
                   "CI/CD", "Bash", "Ansible", "Go", "Incident Response", "Networking"],
        "fields": ["Computer Science", "Computer Engineering", "Information Technology"],
        "work": ["ran the Kubernetes platform", "built CI/CD pipelines for dozens of services",
                 "led incident response and postmortems", "codified infrastructure in Terraform",
                 "improved uptime to 99.95%", "set up observability with Prometheus and Grafana"],
    },
    "mobile": {
        "ladder": ["Junior iOS Developer", "Mobile Developer", "Senior Mobile Engineer", "Staff Mobile Engineer"],
        "skills": ["Swift", "Kotlin", "iOS", "Android", "React Native", "Flutter", "Objective-C",
                   "Mobile CI", "REST APIs", "Firebase", "UI Testing"],
        "fields": ["Computer Science", "Software Engineering", "Information Systems"],
        "work": ["shipped the company's first iOS app", "rewrote the Android app in Kotlin",
                 "reduced app crash rate significantly", "built offline sync for the mobile app",
                 "set up mobile release automation", "integrated in-app payments"],
    },
    "qa": {
        "ladder": ["QA Tester", "QA Engineer", "Senior QA Engineer", "QA Lead"],
        "skills": ["Manual Testing", "Selenium", "Cypress", "Test Planning", "JIRA", "Python", "Java",
                   "API Testing", "Postman", "Regression Testing", "Playwright"],
        "fields": ["Computer Science", "Information Technology", "Business Administration"],
        "work": ["wrote and maintained regression suites", "automated UI tests with Selenium",
                 "coordinated release testing", "introduced API contract tests",
                 "triaged and tracked defects", "built the test data management process"],
    },
    "it_support": {
        "ladder": ["Help Desk Technician", "IT Support Specialist", "Senior Systems Administrator",
                   "IT Manager"],
        "skills": ["Windows Server", "Active Directory", "Linux", "Networking", "Office 365", "Bash",
                   "PowerShell", "Hardware Troubleshooting", "ITIL", "VMware"],
        "fields": ["Information Technology", "Computer Information Systems", "Business Administration"],
        "work": ["resolved support tickets for 300 employees", "managed laptop provisioning",
                 "administered Active Directory", "migrated email to Office 365",
                 "maintained office networking", "documented IT procedures"],
    },
    "design": {
        "ladder": ["Junior Product Designer", "Product Designer", "Senior Product Designer",
                   "Lead Product Designer", "Design Director"],
        "skills": ["Figma", "Sketch", "User Research", "Prototyping", "Design Systems", "Interaction Design",
                   "Usability Testing", "Adobe Creative Suite", "Wireframing", "Accessibility"],
        "fields": ["Graphic Design", "Human-Computer Interaction", "Psychology", "Fine Arts"],
        "work": ["redesigned the onboarding flow", "built the design system",
                 "ran user research with customers", "designed the mobile app",
                 "improved conversion on the pricing page", "prototyped new product concepts"],
    },
    "product": {
        "ladder": ["Associate Product Manager", "Product Manager", "Senior Product Manager",
                   "Group Product Manager", "Director of Product", "VP of Product"],
        "skills": ["Product Strategy", "Roadmapping", "User Research", "SQL", "A/B Testing", "Agile",
                   "Stakeholder Management", "JIRA", "Analytics", "Go-to-Market", "Prioritization"],
        "fields": ["Business Administration", "Computer Science", "Economics", "Psychology"],
        "work": ["launched a new self-serve plan", "owned the growth roadmap",
                 "drove a pricing change that lifted revenue", "defined requirements for the mobile app",
                 "ran discovery interviews with customers", "aligned engineering and sales on priorities"],
    },
    "management": {
        # Managers usually come up through engineering, so the ladder starts as an IC.
        "ladder": ["Software Engineer", "Senior Software Engineer", "Engineering Manager",
                   "Senior Engineering Manager", "Director of Engineering", "VP of Engineering"],
        "skills": ["People Management", "Hiring", "System Design", "Agile", "Roadmapping", "Mentoring",
                   "Stakeholder Management", "Python", "Java", "Budgeting", "Performance Reviews"],
        "fields": ["Computer Science", "Software Engineering", "Business Administration"],
        "work": ["grew the team from 4 to 12 engineers", "led the platform reliability program",
                 "introduced career ladders and regular 1:1s", "delivered the re-platforming on time",
                 "owned hiring for two teams", "managed a multi-team roadmap"],
    },
}
# How often each family appears: engineering roles dominate, like a real pipeline.
FAMILY_WEIGHTS = {
    "backend": 22, "frontend": 12, "data_science": 9, "ml": 7, "data_engineering": 7, "devops": 7,
    "mobile": 6, "qa": 6, "it_support": 5, "design": 5, "product": 8, "management": 6,
}

GENERIC_SKILLS = ["Git", "Agile", "Communication", "Mentoring", "Technical Writing", "JIRA"]


def _ceiling(quality: float) -> int:
    """Highest level a candidate can ever reach: most careers plateau at senior."""
    return 1 if quality < 0.15 else 2 if quality < 0.55 else 3 if quality < 0.8 else 4 if quality < 0.93 else 5


def _level_at(years: float, pace: float, ladder_len: int, ceiling: int) -> int:
    """Highest ladder level reached after `years`, slower when pace > 1."""
    level = 0
    for i, threshold in enumerate(LEVEL_THRESHOLDS[:ladder_len]):
        if threshold * pace <= years and i <= ceiling:
            level = i
    return level


def _pick_company(rng: random.Random, quality: float, exclude: str | None = None) -> str:
    # Stronger candidates are likelier to have worked somewhere famous.
    while True:
        roll = rng.random()
        if roll < 0.05 + 0.35 * quality:
            company = rng.choice(TOP_COMPANIES)
        elif roll < 0.25 + 0.35 * quality:
            company = rng.choice(KNOWN_COMPANIES)
        else:
            company = rng.choice(ORDINARY_COMPANIES)
        if company != exclude:
            return company


def _education(rng: random.Random, family: str, quality: float) -> list[dict]:
    fields = ROLE_FAMILIES[family]["fields"]
    roll = rng.random()
    if roll < 0.06 + 0.08 * (1 - quality):
        return []  # self-taught / no formal education listed
    if roll < 0.16 + 0.08 * (1 - quality) and family in ("frontend", "backend", "mobile", "qa", "design"):
        return [{"degree": "Certificate", "field": "Web Development", "school": rng.choice(BOOTCAMPS)}]

    def school() -> str:
        return rng.choice(TOP_SCHOOLS) if rng.random() < 0.05 + 0.45 * quality ** 2 else rng.choice(ORDINARY_SCHOOLS)

    degree = "BA" if rng.random() < 0.2 else "BS"
    education = [{"degree": degree, "field": rng.choice(fields), "school": school()}]
    research_heavy = family in ("data_science", "ml")
    if rng.random() < (0.45 if research_heavy else 0.15) + 0.15 * quality:
        master = "MBA" if family in ("product", "management") and rng.random() < 0.5 else "MS"
        education.append({"degree": master, "field": rng.choice(fields), "school": school()})
        if research_heavy and rng.random() < 0.35 * quality:
            education.append({"degree": "PhD", "field": rng.choice(fields), "school": school()})
    return education


def _work_history(rng: random.Random, family: str, years: int, pace: float,
                  quality: float) -> list[dict]:
    ladder = ROLE_FAMILIES[family]["ladder"]
    start = CURRENT_YEAR - years
    # Average tenure of 2-6 years; at most 6 jobs and no more job changes than years worked.
    changes = min(5, years, int(years / rng.uniform(2.0, 6.0)))
    boundaries = sorted(rng.sample(range(start + 1, CURRENT_YEAR + 1), changes))
    starts = [start] + boundaries
    ends: list[int | None] = boundaries + [None]

    history = []
    company = None
    for job_start, job_end in zip(starts, ends, strict=True):
        # Title is the one held at the end of the stint (what a CV shows);
        # for the current job that is the current level.
        elapsed = (job_end if job_end is not None else CURRENT_YEAR) - start
        title = ladder[_level_at(elapsed, pace, len(ladder), _ceiling(quality))]
        company = _pick_company(rng, quality, exclude=company)
        history.append({
            "title": title,
            "company": company,
            "start_year": job_start,
            "end_year": job_end,
            "summary": _sentence(rng.choice(ROLE_FAMILIES[family]["work"])),
        })
    return history


def _sentence(text: str) -> str:
    # Not str.capitalize(): that would lowercase acronyms like "API" or "iOS".
    return text[:1].upper() + text[1:] + "."


def _summary(rng: random.Random, title: str, company: str, years: int, skills: list[str],
             quality: float) -> str:
    top = ", ".join(skills[:3])
    exp = "less than a year" if years == 0 else f"{years} year{'s' if years != 1 else ''}"
    first = rng.choice([
        f"{title} with {exp} of experience, currently at {company}.",
        f"{title} at {company} with {exp} in the industry.",
        f"Experienced {title} ({exp}) working at {company}." if years >= 5
        else f"Early-career {title} at {company} ({exp} of experience).",
    ])
    if quality > 0.75:
        second = rng.choice([f"Known for shipping high-impact work with {top}.",
                             f"Strong track record with {top} and mentoring others."])
    elif quality < 0.25:
        second = rng.choice(["Open to new opportunities.", f"Familiar with {top}.", ""])
    else:
        second = rng.choice([f"Works mostly with {top}.", f"Interested in {top}.", ""])
    return f"{first} {second}".strip()


def _candidate(seed: int, i: int) -> dict:
    # A private RNG per record: record i never depends on records before it.
    rng = random.Random(f"{seed}:{i}")
    quality = rng.random()
    # Weak candidates get promoted slowly (pace up to ~2.2x the norm), strong ones fast.
    pace = 0.6 + 1.6 * (1 - quality) * rng.uniform(0.7, 1.0)
    family = rng.choices(list(FAMILY_WEIGHTS), weights=list(FAMILY_WEIGHTS.values()))[0]
    years = min(30, int(rng.triangular(0, 30, 4)))

    history = _work_history(rng, family, years, pace, quality)
    title = history[-1]["title"]
    company = history[-1]["company"]

    spec = ROLE_FAMILIES[family]
    n_skills = max(3, min(12, round(3 + years / 4 + 5 * quality + rng.uniform(-2, 2))))
    n_family = min(n_skills, len(spec["skills"]))
    skills = rng.sample(spec["skills"], n_family)
    extra = [s for s in GENERIC_SKILLS if s not in skills]
    skills += rng.sample(extra, min(n_skills - n_family, len(extra)))

    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return {
        "id": f"cand-{i + 1:06d}",
        "name": name,
        "title": title,
        "company": company,
        "location": rng.choice(LOCATIONS),
        "years_experience": years,
        "education": _education(rng, family, quality),
        "skills": skills,
        "work_history": history,
        "summary": _summary(rng, title, company, years, skills, quality),
    }


def generate_candidates(count: int, seed: int = 0) -> Iterator[dict]:
    """Yield `count` synthetic candidates; same (seed, i) always gives the same record."""
    for i in range(count):
        yield _candidate(seed, i)


def write_jsonl(path: str | Path, count: int, seed: int = 0) -> None:
    """Stream candidates to a UTF-8 JSONL file, one object per line."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for record in generate_candidates(count, seed):
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
