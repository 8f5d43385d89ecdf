# Writes the python-made test messages of pkg/mimeview/testdata (see README.md there).
import email.policy
from email.message import EmailMessage
from email.utils import formatdate

pol = email.policy.default.clone(linesep='\n')

def base(subject):
    m = EmailMessage(policy=pol)
    m['From'] = 'Zoë Dupont <zoe@example.fr>'
    m['To'] = 'Bob Example <bob@example.net>'
    m['Subject'] = subject
    m['Date'] = 'Fri, 05 Jan 2024 10:00:00 +0100'
    m['Message-ID'] = '<' + subject.split()[0].lower() + '@example.fr>'
    return m

html = '''<!DOCTYPE html><html><head><title>Newsletter</title>
<style>p { color: red; }</style><script>alert("x")</script></head>
<body><h1>Caf&eacute; news</h1><p>Line one<br>Line two &amp; more &lt;tags&gt;</p>
<p>See <a href="https://example.fr/menu">the menu</a>.</p><ul><li>Cr&ecirc;pes</li><li>Galettes</li></ul></body></html>
'''
m = base('HTML-only newsletter')
m.set_content(html, subtype='html')
open('py-html-only.eml', 'w').write(m.as_string())

m = base('Alternative café')
m.set_content('Plain text version: café ☕\n')
m.add_alternative(html, subtype='html')
open('py-alternative.eml', 'w').write(m.as_string())

inner = base('Inner message')
inner.set_content('Inside the forwarded message: naïve.\n')
inner.add_attachment(b'\x00\x01binary', maintype='application', subtype='octet-stream', filename='inner.bin')
m = base('Forwarded with attachments')
m.set_content('See the forwarded message below.\n')
m.add_attachment(inner)
m.add_attachment(b'%PDF-1.4 fake\n' * 900, maintype='application', subtype='pdf', filename='Bericht für Köln.pdf')
open('py-forward.eml', 'w').write(m.as_string())

m = base('Related alternative')
m.set_content('Plain alternative.\n')
m.add_alternative('<p>HTML with <img src="cid:logo@x" alt="logo"></p>', subtype='html')
m.get_payload()[1].add_related(b'\x89PNG\r\n\x1a\nfake', maintype='image', subtype='png', cid='<logo@x>')
m.add_attachment('notes, with a name\n', filename='notes.txt')
open('py-mixed-related.eml', 'w').write(m.as_string())
