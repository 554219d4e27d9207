"""Earnings-call transcripts assembled from templates: prepared remarks (CEO, CFO) and analyst Q&A.

The tone (0 = very negative .. 4 = very positive) is chosen by the caller from the quarter's revenue growth,
the EPS surprise and the company's latent expected alpha; the figures quoted are the quarter's own.
"""

from __future__ import annotations

from meridian_assets.ingest.synthetic.common import S_TEXT, rng

FIRMS = ("Morgan Stanley", "Goldman Sachs", "J.P. Morgan", "BofA Securities", "Citi", "Barclays", "UBS",
         "Wells Fargo Securities", "Evercore ISI", "Bernstein", "Jefferies", "RBC Capital Markets", "Deutsche Bank",
         "Piper Sandler", "Raymond James", "KeyBanc Capital Markets", "Wolfe Research", "Mizuho", "TD Cowen")
ANALYSTS = ("Ben Carter", "Julia Moreno", "Sam Whitfield", "Ravi Iyer", "Hannah Brooks", "Tom Lindgren",
            "Alicia Chen", "Marcus Reed", "Nina Kowalczyk", "Paul Okafor", "Laura Bianchi", "Dev Malhotra",
            "Chris Doyle", "Emma Fischer", "Kenji Sato", "Olivia Grant", "Mateo Silva", "Rachel Stein")

HEADLINE = {
    4: ("We delivered an outstanding quarter, with record revenue and earnings well ahead of our expectations.",
        "This was an exceptional quarter. Every part of the business performed, and we exceeded our own targets."),
    3: ("We delivered a solid quarter, with results ahead of our plan on both the top and the bottom line.",
        "I am pleased with our performance this quarter; we executed well and grew profitably."),
    2: ("Our results this quarter were broadly in line with our expectations.",
        "This was a steady quarter: we delivered what we said we would, with some puts and takes."),
    1: ("This was a challenging quarter, and our results fell short of what we expect of ourselves.",
        "Results this quarter were mixed; we saw pressure in several parts of the business."),
    0: ("Our results this quarter were disappointing, and I want to be direct about what went wrong.",
        "This was a difficult quarter. Revenue and earnings came in below our expectations and below yours."),
}
DEMAND = {
    4: "Demand remains exceptionally strong across regions and customer segments, our backlog is at a record, and customers are expanding their commitments with us.",
    3: "Demand was healthy through the quarter, order trends improved month by month, and our pipeline entering next quarter is stronger than a year ago.",
    2: "Demand was stable overall; strength in some end markets offset softness in others, and order patterns were consistent with normal seasonality.",
    1: "We saw customers become more cautious during the quarter, with longer decision cycles and some orders pushed into future periods.",
    0: "Demand weakened meaningfully during the quarter. Several large customers reduced orders, and we saw elevated cancellations late in the period.",
}
OUTLOOK = {
    4: "Given the momentum we are seeing, we are raising our full-year outlook for revenue and earnings per share.",
    3: "We are reaffirming our full-year outlook and now expect results toward the upper end of the range.",
    2: "We are maintaining our full-year outlook.",
    1: "We are taking a more cautious view of the second half and now expect results toward the lower end of our range.",
    0: "Given the weaker environment and our execution issues, we are lowering our full-year guidance.",
}
VERB = {4: "accelerated sharply", 3: "grew nicely", 2: "was stable", 1: "softened", 0: "declined"}
SECTOR_LINES = {
    "Information Technology": ("cloud subscriptions", "data center products", "our installed base of enterprise customers"),
    "Industrials": ("aftermarket services", "our aerospace backlog", "orders for automation equipment"),
    "Financials": ("net interest income", "fee-based revenue", "loan growth and deposit balances"),
    "Health Care": ("our core franchise products", "procedure volumes", "the late-stage pipeline"),
    "Consumer Discretionary": ("comparable store sales", "our digital channel", "traffic and average ticket"),
    "Consumer Staples": ("organic volume", "our premium brands", "price/mix across categories"),
    "Utilities": ("weather-normalized load", "our rate base investment program", "customer additions"),
    "Real Estate": ("same-property net operating income", "leasing spreads", "occupancy across the portfolio"),
    "Materials": ("volumes in our specialty segment", "realized pricing", "plant utilization"),
    "Communication Services": ("advertising revenue", "subscriber net additions", "user engagement"),
    "Energy": ("production volumes", "refining margins", "our cost per barrel"),
}
QUESTIONS = (
    "Could you talk about the demand trends you are seeing as we head into next quarter?",
    "How should we think about gross margin from here, given the mix and cost dynamics you described?",
    "Can you unpack the drivers of revenue this quarter between price, volume and mix?",
    "What are your priorities for capital allocation, and how do you think about buybacks versus M&A?",
    "How are you thinking about pricing versus volume in the current environment?",
    "Any update on the competitive environment, and are you seeing any change in behavior from peers?",
    "How is the macro backdrop affecting customer behavior, particularly in the last few weeks?",
    "Could you give us more color on the assumptions embedded in your guidance?",
    "Where do you stand on the cost program, and how much of the savings is still ahead of us?",
    "How are you deploying AI internally and in your products, and when does it show up in the numbers?",
)
ANSWERS = {
    4: ("We are seeing broad-based strength and, frankly, it is running ahead of our plan.",
        "Every indicator we track is pointing up, and we are investing to capture the opportunity.",
        "We have good visibility, and the upside this quarter was driven by sustainable factors."),
    3: ("Trends are constructive, and we feel good about the trajectory.",
        "We see steady improvement, and our execution is getting better quarter after quarter.",
        "There is still work to do, but the direction of travel is clearly positive."),
    2: ("It is a balanced picture; we are not seeing a big change either way.",
        "We are planning prudently and will adjust if conditions change.",
        "Some areas are better, some are a bit weaker, and overall it nets out in line with our plan."),
    1: ("We are being cautious; the environment is less predictable than it was a few months ago.",
        "We have taken actions on costs, but it will take a couple of quarters to see the benefit.",
        "Visibility is lower, so we have widened the range of outcomes in our planning."),
    0: ("I will not sugarcoat it: conditions deteriorated and we did not react quickly enough.",
        "We are reviewing the portfolio and taking decisive action on costs.",
        "We expect the pressure to persist near term, and our guidance reflects that."),
}


def _fmt_money(x: float) -> str:
    sign = "negative " if x < 0 else ""
    x = abs(x)
    return sign + (f"${x / 1e9:,.2f} billion" if x >= 1e9 else f"${x / 1e6:,.0f} million")


def transcript(seed: int, m: dict) -> str:
    """Build one transcript. ``m``: company, ticker, sector, label, fq, fy, revenue, growth, gm, om, eps, est,
    fcf, buyback, dividend, ceo, cfo, tone (0..4), cik."""
    g = rng(seed, S_TEXT, m["cik"], m["fy"] * 10 + m["fq"], 99)
    tone = int(m["tone"])
    ceo, cfo = m["ceo"], m["cfo"]
    ir = f"{g.choice(ANALYSTS).split()[0]} {g.choice(('Hale', 'Porter', 'Vance', 'Quinn', 'Ellison'))}"
    label = f"Q{m['fq']} fiscal {m['fy']}"
    part = "morning" if m.get("bmo") else "afternoon"
    lines = [
        f"{m['company']} ({m['ticker']}) {label} Earnings Call",
        f"Operator: Good {part}, and welcome to the {m['company']} {label} earnings conference call. At this time, "
        "all participants are in a listen-only mode. After the speakers' presentation there will be a "
        f"question-and-answer session. I would now like to turn the call over to {ir}, Vice President of "
        "Investor Relations. Please go ahead.",
        f"{ir}: Thank you, operator, and good {part}, everyone. With me today are {ceo}, our Chief Executive "
        f"Officer, and {cfo}, our Chief Financial Officer. Before we begin, please note that today's remarks "
        "include forward-looking statements that are subject to risks and uncertainties that could cause actual "
        "results to differ materially. Please refer to our most recent Form 10-K and subsequent filings for a "
        "discussion of these risks. We will also refer to certain non-GAAP measures; reconciliations are "
        "included in our earnings release. With that, I will turn the call over to "
        f"{ceo.split()[0]}.",
    ]
    sec_items = SECTOR_LINES[m["sector"]]
    growth_word = "up" if m["growth"] >= 0 else "down"
    ceo_paras = [
        f"{ceo}: Thank you, {ir.split()[0]}, and thanks to everyone for joining us. {g.choice(HEADLINE[tone])} "
        f"Revenue for the quarter was {_fmt_money(m['revenue'])}, {growth_word} {abs(m['growth']):.1f}% from a year "
        f"ago, and earnings per share were ${m['eps']:.2f}.",
        f"{DEMAND[tone]} In particular, {sec_items[0]} {VERB[tone]}, while {sec_items[1]} "
        f"{VERB[min(4, max(0, tone + int(g.integers(-1, 2))))]}. We continue to invest in {sec_items[2]}, "
        "which we see as a durable source of advantage over the next several years.",
        "Our strategy is unchanged: we are focused on serving our customers better than anyone else, allocating "
        "capital with discipline and developing the talent that makes this company what it is. "
        + ("The progress we made this quarter gives me confidence that the plan is working. " if tone >= 3 else
           "We know we have more to do, and the team is focused on execution. " if tone <= 1 else
           "We are making steady progress against our priorities. ")
        + f"With that, let me hand it to {cfo.split()[0]} to walk through the numbers.",
    ]
    beat = m["eps"] - m["est"]
    vs = ("ahead of" if beat > 0.005 else "below" if beat < -0.005 else "in line with")
    cfo_paras = [
        f"{cfo}: Thanks, {ceo.split()[0]}. Revenue of {_fmt_money(m['revenue'])} was {growth_word} "
        f"{abs(m['growth']):.1f}% year over year. Gross margin was {m['gm']:.1f}% and operating margin was "
        f"{m['om']:.1f}%. Diluted earnings per share of ${m['eps']:.2f} came in {vs} the consensus estimate of "
        f"${m['est']:.2f}.",
        f"Free cash flow for the quarter was {_fmt_money(m['fcf'])}. "
        + (f"We returned {_fmt_money(m['buyback'])} to shareholders through repurchases" if m["buyback"] > 0 else
           "We did not repurchase shares this quarter")
        + (" and continued to pay our quarterly dividend. " if m["dividend"] else ". ")
        + "Our balance sheet remains " + ("strong, " if tone >= 2 else "sound, although leverage ticked up, ")
        + "and we have ample liquidity to fund our priorities.",
        f"Turning to the outlook. {OUTLOOK[tone]} "
        + ("We assume the current demand environment persists and that input costs remain manageable. "
           if tone >= 2 else "Our outlook assumes no improvement in conditions from here. ")
        + "With that, operator, we are ready to take questions.",
    ]
    lines += ceo_paras + cfo_paras
    lines.append("Operator: Thank you. We will now begin the question-and-answer session.")
    order = g.permutation(len(QUESTIONS))
    n_qa = int(m.get("n_qa", 5))
    k = 0
    while k < len(QUESTIONS) and (k < n_qa or len("\n\n".join(lines)) < 4200):
        name, firm = str(g.choice(ANALYSTS)), str(g.choice(FIRMS))
        opener = "Congratulations on the quarter. " if tone >= 3 and g.random() < 0.5 else "Thanks for taking my question. "
        lines.append(f"Operator: Our next question comes from {name} with {firm}.")
        lines.append(f"{name}: {opener}{QUESTIONS[order[k]]}")
        who = ceo if g.random() < 0.55 else cfo
        ans = g.choice(len(ANSWERS[tone]), size=2, replace=False)
        lines.append(
            f"{who}: Thanks, {name.split()[0]}. {ANSWERS[tone][ans[0]]} When we look at {sec_items[int(g.integers(0, 3))]}, "
            f"the trend {VERB[tone]} over the quarter. {ANSWERS[tone][ans[1]]}")
        k += 1
        if len("\n\n".join(lines)) > 14_000:
            break
    lines.append(f"Operator: That concludes our question-and-answer session. I would like to turn the call back to "
                 f"{ceo} for closing remarks.")
    lines.append(f"{ceo}: Thank you all for joining us today and for your continued interest in {m['company']}. "
                 "We look forward to updating you next quarter.")
    lines.append("Operator: This concludes today's conference call. You may now disconnect.")
    text = "\n\n".join(lines)
    return text[:15_000]
