"""10-K Item 1A risk-factor text: sector-specific and generic paragraphs that change from year to year.

Each company carries a set of risk paragraphs; every fiscal year some are dropped, new ones appear (more of
them after a crisis or a rate shock) and the figures quoted inside move, so a diff against the prior
10-K shows real additions, removals and edits.
"""

from __future__ import annotations

from meridian_assets.ingest.synthetic.common import S_TEXT, rng

GENERIC: tuple[tuple[str, str], ...] = (
    ("Adverse macroeconomic conditions could reduce demand for our products and services.",
     "Our results depend on general economic conditions in the markets we serve. A slowdown in economic growth, "
     "rising unemployment or weaker consumer and business confidence could lead customers to delay or cancel "
     "purchases. In fiscal {year}, approximately {pct1}% of our revenue came from customers whose spending is "
     "sensitive to the business cycle, and a recession could materially reduce our revenue and margins."),
    ("We face intense competition, which could reduce our market share and profitability.",
     "The markets in which {short} competes are highly competitive and subject to rapid change. Competitors may "
     "have greater financial, technical and marketing resources, may price more aggressively, or may be acquired "
     "by larger firms. If we cannot differentiate our offerings, we may lose customers or be forced to reduce "
     "prices, which would harm our results of operations."),
    ("Cybersecurity incidents could disrupt our operations and expose us to liability.",
     "We rely on information systems to process transactions, manage our supply chain and store confidential "
     "data. Attacks on these systems are increasing in frequency and sophistication. A breach could result in "
     "the loss of data, regulatory penalties, litigation and damage to our reputation. We experienced {n1} "
     "attempted intrusions of note during fiscal {year}, none of which had a material effect."),
    ("The loss of key personnel could adversely affect our business.",
     "Our success depends on the continued service of our executive officers and other key employees. "
     "Competition for qualified talent is intense, and the loss of members of our senior management team, or "
     "the inability to attract and retain highly skilled employees, could impair our ability to execute our "
     "strategy. We employed approximately {employees:,} people at the end of fiscal {year}."),
    ("Changes in laws and regulations could increase our costs or limit our activities.",
     "We are subject to extensive and evolving laws and regulations in the jurisdictions where we operate. "
     "New rules, changes in interpretation or more rigorous enforcement could require us to change our business "
     "practices, increase compliance costs or expose us to fines and penalties."),
    ("We are subject to litigation that could result in significant costs.",
     "From time to time we are party to lawsuits, regulatory inquiries and other proceedings, including "
     "product liability, employment, intellectual property and securities claims. The outcome of litigation is "
     "inherently uncertain and an adverse judgment or settlement could materially affect our financial results."),
    ("Failure to protect our intellectual property could harm our competitive position.",
     "We rely on patents, trademarks, trade secrets and contractual restrictions to protect our proprietary "
     "technology. These protections may be challenged, invalidated or circumvented, and third parties may claim "
     "that we infringe their rights. We held approximately {n2:,} patents at the end of fiscal {year}."),
    ("Our international operations expose us to currency and political risks.",
     "Approximately {pct2}% of our revenue in fiscal {year} was generated outside the United States. Fluctuations "
     "in exchange rates, trade restrictions, tariffs, political instability and differing legal regimes could "
     "adversely affect our international results and the value of our foreign assets."),
    ("Disruptions in our supply chain could adversely affect our results.",
     "We depend on a limited number of suppliers for certain components and materials. Natural disasters, "
     "transportation bottlenecks, supplier insolvency or geopolitical events could interrupt supply, increase "
     "costs or delay deliveries to customers. Our {n3} largest suppliers accounted for a significant share of "
     "our purchases in fiscal {year}."),
    ("Our indebtedness could limit our flexibility and increase our exposure to interest rates.",
     "As of the end of fiscal {year}, we had approximately ${debt:,.1f} billion of outstanding indebtedness. Our "
     "debt agreements contain covenants that restrict our activities, and a portion of our borrowings bears "
     "interest at variable rates. Higher interest rates would increase our interest expense and could make "
     "refinancing more costly."),
    ("Inflationary pressures could increase our costs faster than we can raise prices.",
     "We have experienced increases in the cost of labor, materials, energy and freight. If we are unable to "
     "offset these increases through pricing actions or productivity improvements, our margins could decline."),
    ("Acquisitions and divestitures may not produce the anticipated benefits.",
     "We have pursued and may continue to pursue acquisitions. Integrating acquired businesses involves risks, "
     "including the diversion of management attention, the loss of key employees or customers of the acquired "
     "business, and the possibility that expected synergies are not realized or goodwill is impaired."),
    ("Changes in tax laws could adversely affect our effective tax rate.",
     "We are subject to income taxes in the United States and numerous foreign jurisdictions. Changes in tax "
     "legislation, including the implementation of a global minimum tax, or adverse outcomes of tax audits "
     "could increase our effective tax rate, which was approximately {taxpct}% in fiscal {year}."),
    ("Climate change and related regulation could affect our operations.",
     "Physical risks from severe weather and longer-term shifts in climate patterns could damage our facilities "
     "or disrupt our supply chain, while regulations addressing greenhouse gas emissions and evolving "
     "stakeholder expectations could increase our costs."),
    ("Public health crises could disrupt our business.",
     "Outbreaks of contagious disease could lead to facility closures, travel restrictions, labor shortages and "
     "reduced demand, as well as volatility in financial markets, any of which could materially affect our "
     "operations and financial condition."),
    ("The market price of our common stock may be volatile.",
     "The trading price of our common stock has fluctuated and may continue to fluctuate significantly in "
     "response to our operating results, announcements by us or our competitors, analyst recommendations and "
     "broader market conditions, many of which are beyond our control."),
    ("A downgrade of our credit ratings could increase our borrowing costs.",
     "Rating agencies regularly evaluate our creditworthiness. A downgrade could increase the cost of our "
     "borrowings, limit our access to the commercial paper market and require us to post additional collateral."),
    ("We depend on a small number of large customers.",
     "Our largest customer accounted for approximately {pct3}% of our revenue in fiscal {year}, and our ten "
     "largest customers for a substantially larger share. The loss of, or a significant reduction in orders "
     "from, any of these customers could materially reduce our revenue."),
    ("Work stoppages and labor disputes could disrupt our operations.",
     "Some of our employees are represented by labor unions. Failure to reach acceptable agreements when "
     "contracts expire could result in strikes or work stoppages, and new agreements could raise our costs."),
    ("Geopolitical conflicts and sanctions could adversely affect our business.",
     "Armed conflicts, sanctions, export controls and heightened tensions between major economies could "
     "disrupt our operations, restrict our ability to sell in certain markets and increase energy and commodity "
     "prices."),
    ("Our use of artificial intelligence may present operational, legal and reputational risks.",
     "We are incorporating artificial intelligence into our products and internal processes. Flawed models, "
     "biased data, evolving regulation and intellectual property claims relating to AI could harm our "
     "reputation, expose us to liability or fail to deliver the anticipated benefits."),
    ("Volatility in the financial markets could limit our access to capital.",
     "Periods of severe market stress, such as the turmoil experienced during fiscal {year}, can sharply reduce "
     "liquidity, widen credit spreads and make it difficult to raise capital on acceptable terms. If funding "
     "markets were to close for an extended period, we might have to curtail investment or sell assets."),
    ("Rising interest rates could increase our financing costs and reduce demand.",
     "Short-term interest rates rose by approximately {bp} basis points during fiscal {year}. Further increases "
     "would raise our cost of capital, reduce the present value of our long-term projects and may dampen "
     "demand from customers who finance their purchases."),
    ("We may be unable to maintain effective internal control over financial reporting.",
     "If we identify material weaknesses in our internal controls, we may be unable to report our results "
     "accurately or timely, which could cause investors to lose confidence and our stock price to decline."),
    ("We cannot guarantee future dividends or share repurchases.",
     "The declaration of dividends and the amount of share repurchases are at the discretion of our Board of "
     "Directors and depend on our earnings, capital requirements and financial condition. A reduction or "
     "suspension could adversely affect the price of our common stock."),
)

SECTOR_RISKS: dict[str, tuple[tuple[str, str], ...]] = {
    "Information Technology": (
        ("Rapid technological change could render our products obsolete.", "Our markets are characterized by rapid technological change and short product cycles. If we fail to anticipate customer needs or to introduce new products on time, demand for our offerings could decline."),
        ("We depend on third-party foundries and contract manufacturers.", "We outsource the manufacture of most of our hardware to a small number of partners, several located in Asia. Capacity constraints or disruptions at these partners could limit our ability to meet demand."),
        ("The transition of customers to subscription models affects our revenue timing.", "A growing share of our revenue is recognized ratably over subscription terms, so declines in new bookings may not be immediately reflected in our results but will affect future periods."),
        ("Export controls could restrict sales of our advanced products.", "Regulations restricting the export of advanced computing technology to certain countries could prevent us from selling some products and encourage customers to develop alternatives."),
        ("Defects in our software or hardware could harm our reputation.", "Complex products may contain undetected errors or vulnerabilities that could result in product recalls, warranty claims and loss of customer confidence."),
    ),
    "Industrials": (
        ("Our business is sensitive to industrial production and capital spending.", "Demand for our equipment and services is tied to customers' capital budgets, which are cyclical and can decline sharply in a downturn."),
        ("Government contracts may be terminated or modified.", "A portion of our revenue comes from government programs that are subject to budget appropriations and may be terminated for convenience."),
        ("Commodity price volatility affects our input costs.", "We purchase significant quantities of steel, aluminum, copper and other commodities whose prices are volatile."),
        ("Fixed-price contracts expose us to cost overruns.", "Under fixed-price contracts we bear the risk that actual costs exceed our estimates, which could result in losses on those contracts."),
        ("Product liability and warranty claims could be significant.", "Failures of our products in the field could result in warranty costs, recalls and claims for damages."),
    ),
    "Financials": (
        ("Changes in interest rates could reduce our net interest margin.", "Our earnings depend substantially on the difference between interest earned on assets and interest paid on liabilities, which can compress when rates move unexpectedly."),
        ("Credit losses could exceed our allowance.", "Deterioration in the credit quality of our borrowers, particularly in commercial real estate and consumer portfolios, could require significant additional provisions for credit losses."),
        ("We are subject to extensive capital and liquidity regulation.", "Capital, liquidity and stress-testing requirements could limit our ability to pay dividends, repurchase shares or expand our balance sheet."),
        ("Deposit outflows could strain our liquidity.", "Rapid withdrawals of uninsured deposits, amplified by social media and digital banking, could force us to sell assets at a loss."),
        ("Market volatility affects our trading and asset management revenues.", "Declines in asset prices reduce fees tied to assets under management and can cause losses in our trading activities."),
    ),
    "Health Care": (
        ("Our products are subject to lengthy and uncertain regulatory approval.", "Clinical trials may fail to demonstrate safety or efficacy, and regulators may delay or refuse approval of our product candidates."),
        ("Drug pricing reform could reduce our revenue.", "Legislative and administrative efforts to control prescription drug prices, including government price negotiation, could materially reduce our revenue."),
        ("Loss of patent protection will expose key products to generic competition.", "Several of our significant products will lose exclusivity in the coming years, after which sales typically decline rapidly."),
        ("Changes in reimbursement could affect demand for our products.", "Our revenue depends on coverage and reimbursement by government and private payers, which may be reduced or restricted."),
        ("Product recalls and safety concerns could harm our business.", "Adverse events associated with our products could lead to recalls, label changes and litigation."),
    ),
    "Consumer Discretionary": (
        ("Changes in consumer spending could reduce our sales.", "Our products are discretionary purchases; declines in consumer confidence, disposable income or access to credit could reduce demand."),
        ("We must anticipate changing consumer preferences.", "Our success depends on our ability to identify and respond to fashion, product and channel trends; misjudgments could lead to excess inventory and markdowns."),
        ("Our business is seasonal.", "A significant portion of our sales and profits is generated during the holiday season, and weak results in that period could disproportionately affect our annual results."),
        ("E-commerce competition could pressure our margins.", "Online competitors and marketplaces increase price transparency and may force us to invest heavily in fulfillment and digital capabilities."),
        ("Disruptions at our distribution centers could affect our operations.", "Our distribution network is concentrated in a few facilities; an outage could delay deliveries to stores and customers."),
    ),
    "Consumer Staples": (
        ("Input cost inflation could compress our margins.", "We purchase agricultural commodities, packaging and energy whose prices can rise faster than we can adjust our prices."),
        ("Consolidation of retail customers increases their bargaining power.", "A small number of large retailers account for a substantial portion of our sales and may demand lower prices or more promotional support."),
        ("Private-label products compete with our brands.", "Retailers' own brands may gain share, particularly when consumers are under financial pressure."),
        ("Product contamination could damage our brands.", "Food safety issues or product tampering could lead to recalls, litigation and lasting damage to consumer trust."),
        ("Changing dietary and health trends could reduce demand.", "Consumer preferences are shifting toward healthier products and new categories, and regulation of sugar, sodium and packaging is increasing."),
    ),
    "Utilities": (
        ("Our rates are subject to regulatory approval.", "Regulators may not allow us to recover our costs or earn an adequate return on our investments, which would affect our earnings."),
        ("Severe weather and wildfires could damage our infrastructure.", "Storms, wildfires and extreme temperatures can damage our systems, cause outages and expose us to significant liabilities."),
        ("We require substantial capital to maintain and expand our system.", "Our capital plan depends on access to debt and equity markets at reasonable cost."),
        ("The transition to clean energy affects our generation fleet.", "Environmental regulation and policy could require early retirement of fossil generation and large investments in renewables."),
        ("Nuclear operations involve unique risks.", "Our nuclear facilities are subject to extensive regulation and could face unplanned outages or decommissioning costs."),
    ),
    "Real Estate": (
        ("Our performance depends on tenant demand and occupancy.", "Economic weakness, remote work and changes in retail could reduce occupancy and rental rates at our properties."),
        ("Rising interest rates could reduce property values.", "Higher rates increase our borrowing costs and capitalization rates, which may lower the value of our portfolio."),
        ("We must distribute most of our taxable income to maintain REIT status.", "REIT distribution requirements limit our ability to retain cash and make us dependent on external capital."),
        ("Tenant bankruptcies could reduce our rental income.", "The failure of a significant tenant could cause vacancies and lost rent."),
        ("Development projects may not be completed on time or on budget.", "Construction delays, cost increases and leasing shortfalls could reduce returns on our development pipeline."),
    ),
    "Materials": (
        ("Commodity price cycles drive our revenue and margins.", "Prices for our products are volatile and tied to global supply and demand, which we cannot control."),
        ("Environmental liabilities could be significant.", "Our operations involve hazardous materials and are subject to environmental laws that could require costly remediation."),
        ("Energy costs are a significant input.", "Increases in natural gas and electricity prices could raise our production costs substantially."),
        ("Operational hazards could cause accidents and outages.", "Explosions, spills and equipment failures at our plants and mines could cause injuries, damage and production losses."),
        ("Trade policy could affect our competitiveness.", "Tariffs and anti-dumping measures could change the flow of imports and exports in our markets."),
    ),
    "Communication Services": (
        ("Advertising revenue is sensitive to economic conditions.", "Advertisers tend to cut budgets in downturns, which would reduce our revenue."),
        ("Changes in privacy rules could limit targeted advertising.", "Restrictions on data collection and changes to mobile operating systems could reduce the effectiveness of our advertising products."),
        ("Content costs continue to rise.", "Competition for programming and talent increases the cost of content, which may not be matched by subscriber growth."),
        ("Network outages could harm our reputation.", "Failures of our network or platforms could cause service disruptions and customer losses."),
        ("Subscriber churn could reduce our revenue.", "Customers may cancel subscriptions in favor of competing or lower-priced services."),
    ),
    "Energy": (
        ("Oil and natural gas prices are volatile.", "Our revenue, cash flow and reserves depend on commodity prices, which can fall sharply and remain low for extended periods."),
        ("Our reserves estimates may prove inaccurate.", "Estimating reserves involves significant judgment; downward revisions would reduce our asset values and future production."),
        ("Climate policy could reduce demand for our products.", "Carbon pricing, fuel-efficiency standards and the growth of electric vehicles could reduce long-term demand for oil and gas."),
        ("Drilling and production involve operational hazards.", "Blowouts, spills and fires could result in loss of life, environmental damage and significant liabilities."),
        ("Access to pipelines and export capacity may be constrained.", "Insufficient takeaway capacity could force us to curtail production or sell at discounted prices."),
    ),
}
_CORE = 4  # the first few generic paragraphs are always present
_CRISIS_RISK, _RATE_RISK = 21, 22
_TRIGGERED = {("g", _CRISIS_RISK), ("g", _RATE_RISK)}


def risk_sets(seed: int, cik: int, sector: str, years: list[int], crisis_years: set, rate_years: set) -> dict:
    """Paragraph keys per fiscal year; each year evolves from the previous one (prefix-stable)."""
    n_sec = len(SECTOR_RISKS[sector])
    pool = [("g", k) for k in range(len(GENERIC))] + [("s", k) for k in range(n_sec)]
    g0 = rng(seed, S_TEXT, cik)
    chosen = [("g", k) for k in range(_CORE)]
    others = [p for p in pool if p not in chosen and p not in _TRIGGERED]
    pick = g0.choice(len(others), size=min(8, len(others)), replace=False)
    chosen += [others[k] for k in sorted(pick)]
    out = {}
    for y in sorted(years):
        g = rng(seed, S_TEXT, cik, y)
        removable = [p for p in chosen if not (p[0] == "g" and p[1] < _CORE)]
        n_drop = int(g.integers(0, 3))
        for k in sorted(g.choice(len(removable), size=min(n_drop, len(removable)), replace=False), reverse=True):
            chosen.remove(removable[k])
        avail = [p for p in pool if p not in chosen and p not in _TRIGGERED]
        n_add = int(g.integers(1, 3))
        if avail:
            for k in g.choice(len(avail), size=min(n_add, len(avail)), replace=False):
                chosen.append(avail[k])
        for flag, key in ((y in crisis_years, ("g", _CRISIS_RISK)), (y in rate_years, ("g", _RATE_RISK))):
            if flag and key not in chosen:
                chosen.append(key)
            elif not flag and key in chosen:
                chosen.remove(key)
        out[y] = list(chosen)
    return out


def risk_text(keys: list, sector: str, company: str, short: str, year: int, figures: dict) -> str:
    parts = [
        "Item 1A. Risk Factors",
        f"Investing in the securities of {company} involves risks. You should carefully consider the risks "
        "described below, together with the other information in this Annual Report on Form 10-K, before "
        "making an investment decision. Any of these risks could materially and adversely affect our business, "
        "financial condition and results of operations, and the trading price of our common stock.",
    ]
    groups = (("Risks Related to Our Industry", [k for k in keys if k[0] == "s"]),
              ("General and Operational Risks", [k for k in keys if k[0] == "g"]))
    fmt = dict(figures, year=year, short=short, company=company)
    for title, ks in groups:
        if not ks:
            continue
        parts.append(title)
        for kind, k in ks:
            head, body = (SECTOR_RISKS[sector][k] if kind == "s" else GENERIC[k])
            parts.append(head)
            parts.append(body.format(**fmt))
    return "\n\n".join(parts)


def risk_figures(seed: int, cik: int, year: int, debt_bn: float, tax: float, bp: int) -> dict:
    g = rng(seed, S_TEXT, cik, year, 7)
    base = rng(seed, S_TEXT, cik, 7).random(4)
    return dict(
        pct1=int(20 + 40 * base[0] + g.integers(-3, 4)), pct2=int(10 + 45 * base[1] + g.integers(-2, 3)),
        pct3=int(3 + 12 * base[2] + g.integers(-1, 2)), n1=int(g.integers(2, 40)), n2=int(200 + 5000 * base[3] + g.integers(-50, 300)),
        n3=int(g.integers(3, 11)), employees=int(1000 * round(5 + 120 * base[0] * (1 + 0.05 * g.standard_normal()))),
        debt=max(debt_bn, 0.1), taxpct=round(100 * tax, 1), bp=max(bp, 25),
    )


def company_short(name: str) -> str:
    return name.split(" ")[0]


def sector_word(sector: str) -> str:
    return {"Information Technology": "technology", "Financials": "financial services", "Health Care": "health care",
            "Energy": "energy", "Utilities": "utility", "Real Estate": "real estate", "Materials": "materials",
            "Industrials": "industrial", "Consumer Staples": "consumer staples",
            "Consumer Discretionary": "consumer", "Communication Services": "communications"}[sector]

