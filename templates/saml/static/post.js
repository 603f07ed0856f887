// Submits the SAML HTTP-POST form of gateway/saml/post_page.py (a separate file: the page's CSP allows
// scripts from the gateway only, no inline script).
document.getElementById("saml-post").submit();
