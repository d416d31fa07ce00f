"""Words and conversation pieces shared by every scenario of the sample transcripts.

Blocks are templates: one or more lines "Agent: ..." / "Customer: ..." joined by newlines, with
{placeholders} filled per transcript (tools/sample_data/text.py builds the values). Agents avoid the
words a keyword model reads as sentiment ("thank you", "great", "angry"...) in the generic blocks so
that the customer's mood, not boilerplate, decides how a transcript reads.
"""

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Steven", "Emily",
    "Andrew", "Donna", "Joshua", "Michelle", "Kevin", "Carol", "Brian", "Amanda", "Priya", "Melissa",
    "Ahmed", "Deborah", "Wei", "Stephanie", "Ryan", "Rebecca", "Jacob", "Laura", "Gary", "Sharon",
    "Nicholas", "Cynthia", "Eric", "Kathleen", "Omar", "Amy", "Stephen", "Angela", "Raj", "Olivia",
    "Tyler", "Sofia", "Aaron", "Grace", "Diego", "Chloe", "Samuel", "Fatima", "Noah", "Hannah",
)

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Patel", "Khan", "Chen", "Okafor", "Murphy", "O'Brien", "Kowalski", "Singh", "Novak", "Fischer",
)

AGENT_NAMES = (
    "Alex", "Jordan", "Sam", "Taylor", "Morgan", "Casey", "Jamie", "Riley", "Chris", "Pat",
    "Dana", "Robin", "Leslie", "Kim", "Lee", "Toni", "Maria", "Ben", "Aisha", "Kenji",
    "Hector", "Nadia", "Tom", "Grace", "Sunil", "Erin", "Marcus", "Julia", "Victor", "Ines",
)

CITIES = (
    "Springfield", "Riverside", "Fairview", "Greenville", "Franklin", "Clinton", "Georgetown", "Salem",
    "Madison", "Ashland", "Oxford", "Burlington", "Dover", "Milton", "Newport", "Lakewood", "Hudson",
    "Kingston", "Marion", "Chester",
)

STREETS = (
    "Oak Street", "Maple Avenue", "Cedar Lane", "Elm Road", "Park Drive", "Lake View", "Hill Crescent",
    "Church Street", "Mill Lane", "Station Road", "Victoria Close", "Willow Way",
)

# Plan names avoid "premium" and "plan", which a keyword model reads as an upgrade request.
PLANS = (
    "Essential 100", "Fibre 300", "Fibre 500", "Gigabit Max", "Unlimited Plus", "Family Share 4",
    "Mobile Basic 5GB", "Mobile 30GB", "Home and Mobile Bundle", "Superfast 900", "Starter 50",
    "Smart Saver 24", "Fibre Essentials",
)
ROUTERS = ("HomeHub 3000", "SmartHub X", "FibreBox 2", "NW-Router AX6", "WiFi Hub 6", "MeshPoint Duo")
SPEEDS = ("50", "100", "150", "300", "500", "900")
SLOTS = ("8am and 12pm", "12pm and 4pm", "4pm and 8pm", "8am and 1pm", "1pm and 6pm")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")

GREETINGS = (
    "Agent: Good {daypart}, you're through to {company} customer service, my name is {agent}. Just so you "
    "know, this call is recorded for quality and training purposes. How can I help you today?",
    "Agent: Hello, {company}, {agent} speaking. Calls are recorded for quality purposes. What can I do "
    "for you?",
    "Agent: Hi there, you've reached {company}. I'm {agent}, how can I help you today?",
    "Agent: Good {daypart} and welcome to {company}. This call may be recorded. My name is {agent}, who am "
    "I speaking with?\nCustomer: Hi {agent}, it's {first} {last}.",
    "Agent: {company} support, this is {agent}. Before we begin, this call may be recorded and monitored. "
    "How can I help?",
)

FOLLOW_UPS = (
    "Customer: Hi, I called on {prevdate} and spoke to someone already, so this is a follow up.",
    "Customer: Hello again. I was on the phone with one of your colleagues on {prevdate}.",
    "Customer: Hi, it's me again, I rang on {prevdate} as well.",
)

VERIFICATIONS = (
    "Agent: I can help with that. First I need to verify the account. Can I have your full name and the "
    "ZIP code?\nCustomer: Yes, it's {first} {last}, ZIP code {zip}.\nAgent: And the first line of the "
    "address?\nCustomer: {house} {street}.",
    "Agent: Sure. Could you confirm your date of birth and the name on the account?\nCustomer: {first} "
    "{last}, born on {dob}.",
    "Agent: Before we start, can you give me the security PIN on the account?\nCustomer: It's, um, hang "
    "on... {pin}.\nAgent: That's correct, {first}.",
    "Agent: Can I take the email address on the account, please?\nCustomer: It's {email}.\nAgent: And "
    "the last four digits of the account number?\nCustomer: {acct}.",
)

HOLDS = (
    "Agent: Bear with me a moment while I pull that up.\nCustomer: Sure, no problem.",
    "Agent: I'm just going to put you on a short hold while I check something.\nCustomer: Okay.\n"
    "Agent: Sorry to keep you waiting.",
    "Agent: The system is a little slow today, one moment please.\nCustomer: That's alright.",
    "Agent: Let me check the notes on the account.\nCustomer: Go ahead.",
    "Agent: Let me double-check that with a colleague, one moment.\nCustomer: Sure.",
    "Agent: I'm back, sorry about the wait.\nCustomer: That's okay.",
)

# Small talk and generic exchanges any scenario can use to reach its length.
FILLERS = (
    "Agent: Is this still the best contact number for you?\nCustomer: Yes, that's the one.",
    "Agent: I'll add a note to the account so anyone you speak to can see what we discussed.\n"
    "Customer: Okay, that would help.",
    "Customer: Sorry, can you say that again? The line is a bit quiet.\nAgent: Of course. I said I'm "
    "looking at the account now.",
    "Agent: Would you like me to send a summary of this call by email?\nCustomer: Yes please, to the "
    "address you have on file.",
    "Customer: Hang on, my dog is barking, one second.\nAgent: No rush.",
    "Agent: Can I also check, are you still at {house} {street}?\nCustomer: Yes, still there.",
    "Customer: How long have I been with you now?\nAgent: It looks like you joined us {years} years ago.",
    "Agent: I can see you also have the {plan} package on the account.\nCustomer: That's right, it's "
    "for the whole household.",
    "Agent: While that loads, have you used our app before?\nCustomer: Once or twice, I find it a bit "
    "confusing.",
    "Customer: Sorry, I'm driving, you're on speaker.\nAgent: No problem, take your time.",
    "Agent: I can see a letter was sent to you on {date}.\nCustomer: I don't think I ever got that.",
    "Customer: Is this going to take long? I'm on my lunch break.\nAgent: It shouldn't take more than a "
    "few minutes.",
    "Agent: I'm just reading through the previous notes.\nCustomer: Okay.",
    "Agent: Do you prefer us to contact you by text or by email?\nCustomer: Text is easier for me.",
    "Agent: Your account is in good standing otherwise.\nCustomer: Good to know.",
    "Customer: My neighbour said they had something similar last month.\nAgent: That does happen "
    "sometimes in the same area.",
    "Customer: Can I ask who I'm speaking to again?\nAgent: It's {agent}, from the {company} team.",
)

MOOD_LINES = {
    "negative": (
        "Customer: Honestly, I'm really frustrated. This is the third time I've had to deal with this.\n"
        "Agent: I understand, and I'm sorry about the trouble.",
        "Customer: This is ridiculous. I shouldn't have to spend my {daypart} on the phone for this.\n"
        "Agent: I hear you.",
        "Customer: I'm getting quite angry now, to be honest.\nAgent: I understand. Let's see what I can do.",
        "Customer: It's unacceptable. I've been a customer for {years} years and this is how I'm treated.\n"
        "Agent: I'm sorry you feel that way.",
        "Customer: I'm fed up with this, it's the worst service I've had from anyone.\nAgent: I'm sorry "
        "to hear that.",
    ),
    "positive": (
        "Customer: You've been really helpful, I appreciate it.",
        "Customer: Oh, that's great, that's a relief.",
        "Customer: Perfect, that's exactly what I needed.",
        "Customer: Wonderful, I was worried this would take ages.",
    ),
    "neutral": (),
}

CLOSINGS = {
    "positive": (
        "Agent: Is there anything else I can help with today?\nCustomer: No, that's everything. Thank you "
        "so much for your help, {agent}.\nAgent: You're welcome, {first}. Have a lovely {daypart}.",
        "Agent: Anything else I can do for you?\nCustomer: No, you've sorted everything. Thanks a lot!\n"
        "Agent: My pleasure. Take care, {first}.",
        "Customer: That's all, thank you. You've been excellent.\nAgent: Glad I could help. Goodbye.",
    ),
    "neutral": (
        "Agent: Is there anything else I can help with?\nCustomer: No, that's it.\nAgent: Okay. Have a "
        "good {daypart}, {first}.\nCustomer: Bye.",
        "Agent: Anything else today?\nCustomer: No.\nAgent: Alright, goodbye then.",
        "Agent: Is there anything else on the account?\nCustomer: Not right now.\nAgent: Okay, take "
        "care.\nCustomer: You too.",
    ),
    "negative": (
        "Agent: Is there anything else I can do for you today?\nCustomer: No. I just hope this doesn't "
        "happen again.\nAgent: I understand. Goodbye, {first}.",
        "Agent: Is there anything else?\nCustomer: No. Frankly I'm disappointed with how this has gone.\n"
        "Agent: I'm sorry to hear that.",
        "Customer: I've got nothing more to say. Goodbye.\nAgent: Goodbye.",
    ),
}
