"""Call scenarios of a telecom and energy contact centre, as conversation templates.

A scenario is an opening (why the customer calls), steps in narrative order (each a choice of
alternatives), a pool of optional detail exchanges used to reach a target length, and outcomes per
resolution (resolved, unresolved, escalated). Words that a keyword model keys on (refund, cancel,
router, upgrade, supervisor...) sit where they belong, so that each scenario reads as its intent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """One kind of call; see the module docstring for the parts."""

    name: str
    queue: str
    weight: float
    openings: tuple[str, ...]
    steps: tuple[tuple[str, ...], ...]
    details: tuple[str, ...]
    outcomes: dict[str, tuple[str, ...]]
    # resolved, unresolved, escalated
    outcome_weights: tuple[float, float, float]


BILLING = Scenario(
    name="billing_dispute", queue="billing", weight=0.20,
    openings=(
        "Customer: Hi, I'm calling about my latest bill. I've been charged {amount} and normally it's around "
        "{price}. I don't understand where the extra charge came from.",
        "Customer: Hello. There's a charge on my bill for {amount} that I don't recognise, and I'd like a "
        "refund for it.",
        "Customer: Yeah, hi, my bill this month is way higher than it should be. It says {amount} and I was "
        "told my monthly price was {price}.",
        "Customer: I think I've been billed twice. Two payments of {price} went out on {date}.",
    ),
    steps=(
        ("Agent: Okay, let me look at the bill with you. I can see the invoice from {date} for {amount}.\n"
         "Customer: Right, that's the one.",
         "Agent: I'm opening the billing history now. There's a one-off charge of {fee} labelled as a late "
         "payment fee.\nCustomer: A late fee? I paid on time, I have the bank statement to prove it.",
         "Agent: Looking at the breakdown, the promotional discount ended on {date}, which is why the price "
         "went up.\nCustomer: Nobody told me the discount was ending.",
         "Agent: I can see a charge for {data} GB of extra mobile data used while roaming.\nCustomer: I "
         "wasn't even abroad, so that can't be right."),
        ("Agent: I understand. Let me check when your last payment was received.\nCustomer: It went out on "
         "{date}, I can see it in my banking app.",
         "Agent: The invoice covers part of a month at the old price and a full month at the new price, "
         "which is why it's higher this time.\nCustomer: Okay, but nobody explained that to me.",
         "Agent: I can see the duplicate payment on {date}. It looks like the direct debit was collected "
         "twice.\nCustomer: Exactly."),
        ("Customer: So can you refund the difference? I want the money back, not a credit on next month's "
         "bill.",
         "Customer: I'd like that charge removed, please.",
         "Customer: What are you going to do about the charge?"),
    ),
    details=(
        "Agent: Can you confirm the last four digits of the bank account the payments come from?\n"
        "Customer: It ends in {acct}.",
        "Agent: Do you get paper bills or do you use the online account?\nCustomer: I use the app, that's "
        "where I saw the charge.",
        "Customer: This isn't the first time either. Two months ago there was something similar.\nAgent: I "
        "can see a note about that from {date}.",
        "Customer: Can you tell me what the bill should have been?\nAgent: Without that charge it would "
        "have been {price}.",
        "Agent: I can see the payment method is a direct debit from your bank.\nCustomer: Yes, on the "
        "{day} of each month.",
        "Customer: Why does the bill show two different periods?\nAgent: Bills are issued in advance, so "
        "this one covers this month and the end of last month.",
        "Agent: The charge was added on {date} by the system when the discount ended.\nCustomer: And "
        "nobody thought to let me know.",
        "Customer: Can I get an itemised bill?\nAgent: Yes, I'll send an itemised copy to your email.",
    ),
    outcomes={
        "resolved": (
            "Agent: I've processed a refund of {credit} back to your original payment method. It should "
            "reach your account in {days} working days.\nCustomer: Okay. Is there a reference?\nAgent: Yes, "
            "the reference is {ref}.",
            "Agent: I've applied a credit of {credit} to the account and removed the fee, so your next bill "
            "will be back to {price}. That's all taken care of.\nCustomer: Good, that's what I wanted.",
        ),
        "unresolved": (
            "Agent: I'm afraid I can't refund that charge, the usage is recorded on the line and it's valid.\n"
            "Customer: So you're not going to do anything?\nAgent: I can raise a billing review, but I can't "
            "promise an outcome. Someone will call back within {days} days.",
            "Agent: The system won't let me raise the refund right now. I'll have to call back once it "
            "lets me.\nCustomer: So the charge just stays on the bill for now.",
        ),
        "escalated": (
            "Agent: Given the amount, I'm going to escalate this to our billing specialist team. They'll "
            "review the charges and contact you within {days} working days. Your case reference is {ref}.\n"
            "Customer: Fine.",
            "Customer: I want to speak to a supervisor about this.\nAgent: Of course. I'll transfer you to my "
            "supervisor now, please hold.",
        ),
    },
    outcome_weights=(0.6, 0.25, 0.15),
)

CANCELLATION = Scenario(
    name="cancellation", queue="retention", weight=0.12,
    openings=(
        "Customer: Hi, I'd like to cancel my broadband contract, please.",
        "Customer: I'm calling to cancel my service. I'm moving to {city} and switching provider.",
        "Customer: I want to cancel. I've found a cheaper deal elsewhere and I'm leaving at the end of the "
        "month.",
        "Customer: Hello, I need to cancel the mobile line on my account, I don't use it any more.",
    ),
    steps=(
        ("Agent: I'm sorry to hear you want to cancel. Can I ask what the main reason is?\nCustomer: "
         "Honestly it's the price. I'm paying {price} a month and new customers get it for much less.",
         "Agent: Can I ask why you want to cancel?\nCustomer: The connection keeps dropping in the evenings "
         "and I've had enough.",
         "Agent: May I ask the reason for cancelling?\nCustomer: I'm moving house to {city} and you don't "
         "cover the new address."),
        ("Agent: You're still within your minimum term, there are {months} months left on the contract, so "
         "there would be an early termination fee of {fee}.\nCustomer: {fee}? That's a lot.",
         "Agent: Your contract ended on {date}, so there's no early termination fee to pay.\nCustomer: "
         "Good."),
        ("Agent: Before I cancel anything, I can offer you {plan} at {price2} a month for the next 12 "
         "months, which is less than you pay now.\nCustomer: Hmm. What speed is that?\nAgent: Up to {speed} "
         "megabits.",
         "Agent: I could also take {credit} off your next three bills if you stay with us.\nCustomer: I'm "
         "not sure that's enough."),
    ),
    details=(
        "Customer: If I cancel today, do I need to send the router back?\nAgent: Yes, we'll post you a "
        "returns bag for the {router}.",
        "Customer: Will I have to pay anything else once it's cancelled?\nAgent: Only the usage up to the "
        "end date.",
        "Agent: Would you like to keep your phone number if you move provider?\nCustomer: Yes, I'd like to "
        "keep it.",
        "Customer: How long is the notice period?\nAgent: It's 30 days from today.",
        "Customer: Can I cancel the TV part and keep the broadband?\nAgent: Yes, that's possible, it's a "
        "separate cancellation.",
        "Agent: Is there anything we could have done to keep you?\nCustomer: A better price, honestly.",
        "Customer: What date will the cancellation go through?\nAgent: It would take effect on {date2}.",
    ),
    outcomes={
        "resolved": (
            "Customer: No, I've made up my mind, please just cancel it.\nAgent: Okay. I've processed the "
            "cancellation, your service will end on {date2}, and you'll get a confirmation email today.",
            "Customer: Actually, at that price I'll stay.\nAgent: I've applied the new deal, it starts from "
            "your next bill. You're all set.",
        ),
        "unresolved": (
            "Agent: I'm not able to cancel from this queue, you'll need to call back and speak to the "
            "disconnections team, they're open until 8pm.\nCustomer: Seriously? I've already been on hold "
            "for twenty minutes.",
            "Customer: I'll think about the offer and call back.\nAgent: Okay, the offer stays on the account "
            "until {date2}.",
        ),
        "escalated": (
            "Customer: I'm not paying a termination fee when the service hasn't worked for weeks. I want this "
            "escalated.\nAgent: I understand. I'll escalate it to a manager to review the fee, and they'll "
            "contact you within {days} days.",
        ),
    },
    outcome_weights=(0.6, 0.25, 0.15),
)

TECHNICAL = Scenario(
    name="technical_outage", queue="tech_support", weight=0.20,
    openings=(
        "Customer: Hi, my internet has been down since this morning, nothing at all.",
        "Customer: The internet keeps dropping out every few minutes, it's been like that for {days} days.",
        "Customer: My broadband is really slow. I'm paying for {speed} megabits and getting about five.",
        "Customer: The router lights are flashing red and I have no connection.",
    ),
    steps=(
        ("Agent: Let me check for any outage in your area first. There's a reported outage affecting some "
         "customers around {city}, and engineers are on it.\nCustomer: Any idea how long it'll take?",
         "Agent: Let me check the area. There's no known outage on your line, so let's run some checks on "
         "the router.\nCustomer: Okay."),
        ("Agent: What lights can you see on the front of the router? It should be the {router}.\nCustomer: "
         "The power light is green but the internet light is flashing orange.",
         "Agent: Are your devices connected over wifi or with a cable?\nCustomer: Mostly wifi, the TV is on "
         "a cable."),
        ("Agent: Could you switch the router off at the wall, wait thirty seconds, and switch it back on?\n"
         "Customer: Okay, doing it now. It's restarting.\nAgent: Let's give it a couple of minutes.",
         "Agent: I'm running a line test from here now. The test shows a fault between the cabinet and your "
         "property.\nCustomer: So it's not my equipment?\nAgent: No, it looks like it's on our side."),
    ),
    details=(
        "Customer: I work from home, so this is a big problem for me.\nAgent: I understand, I'll do what I "
        "can to get you back online quickly.",
        "Agent: Have you noticed if the connection drops at a particular time of day?\nCustomer: Mostly in "
        "the evenings.",
        "Agent: Can you try a device close to the router?\nCustomer: Same thing on my laptop right next to "
        "it.",
        "Agent: Is the router on the floor or behind the TV?\nCustomer: It's on a shelf in the hallway.",
        "Customer: Do I get any money back for the days without service?\nAgent: You may be due "
        "compensation, I'll note it on the case.",
        "Agent: Have there been any storms or building work nearby?\nCustomer: They've been digging up the "
        "road outside.",
        "Agent: Can you check the cable from the wall socket to the router is pushed in firmly?\nCustomer: "
        "Yes, it seems fine.",
        "Customer: Is my router too old?\nAgent: The {router} is our current model, so that's not the cause.",
        "Agent: I'm checking the signal levels on the line now.\nCustomer: Okay, I'll wait.",
    ),
    outcomes={
        "resolved": (
            "Customer: Oh, the light has gone white now. Let me check... yes, the internet is working now.\n"
            "Agent: The line test is passing too, so that's resolved.",
            "Agent: The outage has been fixed, service was restored a few minutes ago. Could you check your "
            "connection?\nCustomer: Yes, it's back. It's working now.",
        ),
        "unresolved": (
            "Agent: I'm afraid it's still not working from the tests on my end. I've booked a technician "
            "visit for {weekday} between {slot}.\nCustomer: {weekday}? So I'm without internet until then?",
            "Agent: The outage is expected to last until {date2}. There's nothing we can do on the line "
            "until then.\nCustomer: Right. So it's still not working and I just have to wait.",
        ),
        "escalated": (
            "Agent: Since this is the third fault this month, I'm going to escalate it to our network "
            "specialist team so they can look at the whole line. Your reference is {ref}.\nCustomer: About "
            "time.",
        ),
    },
    outcome_weights=(0.5, 0.35, 0.15),
)

UPGRADE = Scenario(
    name="plan_upgrade", queue="sales", weight=0.12,
    openings=(
        "Customer: Hi, I'd like to upgrade my plan. More of us work from home now and the speed isn't "
        "enough.",
        "Customer: I'm interested in upgrading to a faster package. What do you have?",
        "Customer: I'd like to add a line for my daughter and maybe move us all onto a family plan.",
        "Customer: My contract is nearly up and I'm wondering what upgrade options there are for my mobile.",
    ),
    steps=(
        ("Agent: Sure. At the moment you're on {plan} at {price} a month with speeds up to {speed} "
         "megabits.\nCustomer: That's right.",
         "Agent: I can see you're on {plan}, paying {price} a month.\nCustomer: Yes."),
        ("Agent: The most popular upgrade is {plan2}, up to {speed2} megabits for {price2} a month on an 18 "
         "month contract.\nCustomer: What's the difference in practice?\nAgent: Streaming on several "
         "devices at once, and much faster uploads for video calls.",
         "Agent: For your usage I'd suggest {plan2} at {price2} a month. It includes unlimited data.\n"
         "Customer: Does that include calls abroad?\nAgent: Calls to 40 countries are included."),
        ("Customer: Is there any installation cost?\nAgent: No installation fee, and we'd send you a new "
         "{router}, which is included.",
         "Customer: Is there a discount if I sign up today?\nAgent: I can take {credit} off the first bill."),
    ),
    details=(
        "Customer: Would my contract start again?\nAgent: Yes, a new 18 month term starts from the upgrade "
        "date.",
        "Customer: Can I keep my email address?\nAgent: Yes, nothing changes there.",
        "Agent: Do you have many devices in the house?\nCustomer: About a dozen, with the kids' tablets.",
        "Customer: What happens to my current package?\nAgent: It's replaced on the day the new one starts.",
        "Customer: Can I upgrade again later if I need to?\nAgent: Yes, you can move up at any time.",
        "Agent: Do you also want to look at the mobile side?\nCustomer: Maybe another time.",
        "Customer: Will there be any downtime when it switches over?\nAgent: Usually only a few minutes.",
    ),
    outcomes={
        "resolved": (
            "Customer: Okay, let's do it.\nAgent: I've processed the upgrade to {plan2}. It'll be active from "
            "{date2}, and you'll get a confirmation email shortly. You're all set.",
            "Customer: Go on then, sign me up.\nAgent: Done, the upgrade is applied and the new {router} will "
            "arrive within {days} days.",
        ),
        "unresolved": (
            "Customer: I need to talk it over with my partner first. I'll call back.\nAgent: No problem, the "
            "offer is valid until {date2}.",
            "Agent: Unfortunately {plan2} isn't available at your address yet, so I can't add it today.\n"
            "Customer: Oh. Okay.",
        ),
        "escalated": (
            "Agent: With this many lines on a business account I'll need to transfer you to our business "
            "specialist team.\nCustomer: Okay, go ahead.",
        ),
    },
    outcome_weights=(0.65, 0.3, 0.05),
)

GENERAL = Scenario(
    name="general_inquiry", queue="customer_care", weight=0.10,
    openings=(
        "Customer: Hi, I just have a quick question about my account.",
        "Customer: I'm moving house next month and I'd like some information on moving my service to the "
        "new address.",
        "Customer: Can you tell me your store opening hours in {city}? I have a question about a device.",
        "Customer: Hello, how do I change the name on the account? My son is taking it over.",
    ),
    steps=(
        ("Agent: Of course. What would you like to know?\nCustomer: I'd like to know when my contract "
         "ends.\nAgent: It ends on {date2}.",
         "Agent: Sure, I can give you that information.\nCustomer: Great, the new address is in {city}."),
        ("Agent: The {city} store is open nine to six on weekdays and ten to four on Saturdays.\nCustomer: "
         "And Sundays?\nAgent: Closed on Sundays.",
         "Agent: For a move we need at least {days} days' notice and the new address.\nCustomer: That's fine, "
         "I have it here.",
         "Agent: To change the account holder, both of you need to be on the call, or we can send a form.\n"
         "Customer: A form is easier."),
    ),
    details=(
        "Customer: Can I do this online next time?\nAgent: Yes, through the app under account settings.",
        "Customer: Is there a charge for that?\nAgent: No, there's no charge.",
        "Agent: Is there a second contact on the account I should know about?\nCustomer: No, just me.",
        "Customer: Where can I find my account number?\nAgent: It's at the top of every bill and in the app.",
        "Customer: Do you have a store nearer to {city}?\nAgent: The closest one is in the town centre.",
        "Agent: Is there anything about your contract you'd like me to explain?\nCustomer: No, that's clear.",
    ),
    outcomes={
        "resolved": (
            "Agent: I've updated that on the account and you'll get a confirmation by email.\nCustomer: "
            "Okay, that answers my question.",
            "Agent: The form is on its way, and I've noted the move on the account, so that's taken care "
            "of.\nCustomer: Good.",
        ),
        "unresolved": (
            "Agent: I don't have that information here, someone from the right team will call back.\n"
            "Customer: Okay, I'll wait for the call.",
        ),
        "escalated": (
            "Agent: That's handled by a specialist team, I'll transfer you to them now.\nCustomer: Alright.",
        ),
    },
    outcome_weights=(0.75, 0.18, 0.07),
)

COMPLAINT = Scenario(
    name="complaint_escalation", queue="complaints", weight=0.08,
    openings=(
        "Customer: I want to make a formal complaint. I've called four times about the same problem and "
        "nobody has done anything about it.",
        "Customer: I'm really angry about how I've been treated. Every time I call I get passed around.",
        "Customer: I'm calling to complain. Your engineer didn't turn up on {date} and nobody told me.",
        "Customer: I'd like to complain about the service I've had, it's been terrible.",
    ),
    steps=(
        ("Agent: I'm sorry to hear that. Let me look at the history. I can see calls on {date} and "
         "{prevdate}.\nCustomer: Exactly, and each time I was promised a call back that never came.",
         "Agent: I'm sorry about that. Can you tell me what happened?\nCustomer: I took a day off work for "
         "the appointment and nobody came."),
        ("Customer: I'm paying {price} a month for this. It's unacceptable.\nAgent: I understand why "
         "you're upset.",
         "Customer: I've been a customer for {years} years and I've never been treated like this.\nAgent: "
         "I'm sorry, that's not the experience we want you to have."),
    ),
    details=(
        "Customer: I want it in writing this time.\nAgent: You'll get a written response with the "
        "complaint reference.",
        "Agent: I can see the notes from your last call say the case was closed.\nCustomer: Closed? Nothing "
        "changed!",
        "Customer: How long does a complaint take?\nAgent: We aim to respond within {days} working days.",
        "Customer: I've written everything down, dates and names.\nAgent: That's useful, I'll add it to the "
        "case notes.",
        "Agent: I can see an appointment was booked for {date} and then cancelled by the system.\nCustomer: "
        "And nobody told me.",
        "Customer: I shouldn't have to chase you.\nAgent: You're right, you shouldn't.",
    ),
    outcomes={
        "resolved": (
            "Agent: I've applied {credit} to the account as a goodwill gesture, and I've booked the "
            "appointment again for {weekday}, with a confirmation text the day before.\nCustomer: Okay. "
            "That's something at least.",
        ),
        "unresolved": (
            "Agent: I've logged the complaint under reference {ref}. Someone will call back within {days} "
            "working days.\nCustomer: I've heard that before.",
        ),
        "escalated": (
            "Agent: I've logged a formal complaint with reference {ref} and escalated it to a manager, who "
            "will contact you within {days} working days.\nCustomer: Fine.",
            "Customer: I want to speak to your supervisor right now.\nAgent: Of course, I'll transfer you to "
            "my supervisor. Please hold.",
        ),
    },
    outcome_weights=(0.2, 0.2, 0.6),
)

PAYMENT = Scenario(
    name="payment_arrangement", queue="collections", weight=0.08,
    openings=(
        "Customer: I got a letter saying my account is overdue. I lost my job last month and I can't pay "
        "the full {amount} right now.",
        "Customer: Hi, I've missed a payment and I'm worried about being cut off.",
        "Customer: I'd like to set up a payment arrangement for my outstanding balance of {amount}.",
    ),
    steps=(
        ("Agent: I'm sorry to hear that. The overdue balance is {amount}, including a late fee of {fee}.\n"
         "Customer: Can the late fee be taken off?",
         "Agent: Let me check the balance. It's {amount}, from the bills of {date} and {date2}.\nCustomer: "
         "Yes, that sounds right."),
        ("Agent: We can spread it over {months} months at {price} a month on top of your usual bill.\n"
         "Customer: That would be manageable.",
         "Agent: How much could you afford to pay each month?\nCustomer: Maybe {price}, to be honest."),
    ),
    details=(
        "Agent: Your service won't be suspended while the arrangement is in place.\nCustomer: That's a "
        "relief.",
        "Customer: What happens if I miss one of the payments?\nAgent: We'd contact you first before "
        "anything changes.",
        "Agent: Would you like to pay anything towards it today?\nCustomer: I can pay {price2} now by card.",
        "Agent: Are there any other debts you're dealing with at the moment?\nCustomer: A few, yes.",
        "Customer: Will this affect my credit rating?\nAgent: An agreed arrangement is reported as being "
        "kept up to date.",
        "Agent: There's independent debt advice available, I can send you the details.\nCustomer: Yes "
        "please.",
    ),
    outcomes={
        "resolved": (
            "Agent: I've set up the arrangement, {price} a month for {months} months, starting {date2}. "
            "You're all set.\nCustomer: Okay, I can manage that.",
        ),
        "unresolved": (
            "Agent: I can't agree an arrangement that long from here. You'll need to call back when you "
            "have your income details.\nCustomer: Alright.",
        ),
        "escalated": (
            "Agent: Given your circumstances, I'll refer you to our specialist support team for customers "
            "in financial difficulty.\nCustomer: Okay.",
        ),
    },
    outcome_weights=(0.65, 0.2, 0.15),
)

ENERGY = Scenario(
    name="energy_meter", queue="energy_services", weight=0.10,
    openings=(
        "Customer: Hi, my energy bill is estimated again and it's far too high. I want to give you a meter "
        "reading.",
        "Customer: The power has been off on our street since this morning. Is there an outage?",
        "Customer: My smart meter has stopped sending readings and now my bill says {amount}.",
    ),
    steps=(
        ("Agent: I can take that reading now. What does the electricity meter show?\nCustomer: It says "
         "{reading}.\nAgent: And the gas meter?\nCustomer: {reading2}.",
         "Agent: Let me check the network map for {city}. Yes, there's a power outage reported in your "
         "area.\nCustomer: How long will it be off?",
         "Agent: I can see the last reading from the smart meter was on {date}.\nCustomer: Yes, that's when "
         "it stopped."),
        ("Agent: With the actual reading, the bill comes down from {amount} to {amount2}.\nCustomer: That's "
         "more like it.",
         "Agent: The network operator expects power back by {slot_end}.\nCustomer: I've got food in the "
         "freezer.",
         "Agent: I'll send a signal to reset the meter from here.\nCustomer: Okay, let me know."),
    ),
    details=(
        "Agent: Is the meter inside the house or in an outside box?\nCustomer: Outside, by the front door.",
        "Customer: Can I send readings through the app?\nAgent: Yes, under meter readings.",
        "Agent: Do you have any medical equipment that needs power?\nCustomer: No, nothing like that.",
        "Customer: Why was it estimated in the first place?\nAgent: We didn't get a reading for three "
        "months.",
        "Agent: Could you read me the serial number on the meter?\nCustomer: It starts with {reading2}.",
        "Customer: Am I still on the fixed tariff?\nAgent: Yes, you're fixed until {date2}.",
    ),
    outcomes={
        "resolved": (
            "Agent: I've updated the account and a corrected bill for {amount2} will be sent today. That's "
            "sorted.\nCustomer: Good.",
            "Agent: The meter has reconnected and the readings are coming through again, so it's fixed.\n"
            "Customer: Good to hear.",
        ),
        "unresolved": (
            "Agent: I can't reset it remotely, so we'll need to send an engineer. They'll call back to book "
            "a slot.\nCustomer: So it's still not working in the meantime.",
        ),
        "escalated": (
            "Agent: I'll escalate this to the metering specialist team, as the readings don't match the "
            "meter history.\nCustomer: Okay.",
        ),
    },
    outcome_weights=(0.6, 0.25, 0.15),
)

SCENARIOS: tuple[Scenario, ...] = (
    BILLING, CANCELLATION, TECHNICAL, UPGRADE, GENERAL, COMPLAINT, PAYMENT, ENERGY,
)
RESOLUTIONS = ("resolved", "unresolved", "escalated")
# Customer mood given the outcome, as weights of positive, neutral, negative.
MOOD_WEIGHTS = {
    "resolved": (0.55, 0.35, 0.10),
    "unresolved": (0.10, 0.40, 0.50),
    "escalated": (0.05, 0.25, 0.70),
}
MOODS = ("positive", "neutral", "negative")
