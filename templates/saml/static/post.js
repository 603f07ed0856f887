// Submits the SAML HTTP-POST form of templates/saml/post.html (a separate file: the page's CSP allows
// scripts from the gateway only, no inline script).
document.getElementById("saml-post").submit();
